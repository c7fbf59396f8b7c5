"""Invariants of the NTK and the LSE test (hypothesis, fixed shapes)."""

import jax
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from mftransformer import families as fam
from mftransformer import ntk
from mftransformer.solver.tasks import silent_init

N, n, d = 3, 4, 2
THETA = silent_init(1, 8, d, key=jax.random.key(0))
XI = np.broadcast_to(np.array([1.0, 0.5]), (N, d))
W = np.array([[1.0, -0.5]])
seeds = st.integers(0, 2**16)


def _laws(seed):
    return [law.centred() for law in fam.clouds(N, n, d, key=jax.random.key(seed))]


@given(seeds)
def test_ntk_is_symmetric_psd(seed):
    K = ntk.ntk_silent(THETA, _laws(seed), XI, W)
    for block in (K.K, K.K_V, K.K_QK):
        block = np.asarray(block)
        assert np.allclose(block, block.T, atol=1e-14)
        lam = ntk.spectrum(block)
        assert lam[0] > -1e-12 * lam[-1]


@given(seeds, st.permutations(range(N)))
def test_permuting_inputs_permutes_the_kernel(seed, perm):
    laws = _laws(seed)
    K = np.asarray(ntk.ntk_silent(THETA, laws, XI, W).K)
    Kp = np.asarray(ntk.ntk_silent(THETA, [laws[i] for i in perm], XI, W).K)
    assert np.allclose(Kp, K[np.ix_(perm, perm)], rtol=1e-13, atol=1e-15)


@given(seeds, st.lists(st.floats(-2, 2), min_size=d, max_size=d))
def test_translating_an_input_keeps_the_affine_verdict(seed, shift):
    # columns are normalised before the affine part is removed (MATH.md §5.5), so the ratio
    # itself moves with a translation; the verdict, and an exact relation, do not
    laws = _laws(seed)
    moved = [laws[0], fam.Discrete(np.asarray(laws[1].x) + np.array(shift), laws[1].a), laws[2]]
    q = np.asarray(jax.random.normal(jax.random.key(1), (200, d)))
    assert ntk.lse_independence(moved, queries=q).verdict == "independent"
    translate = fam.Discrete(np.asarray(laws[0].x) + np.array(shift), laws[0].a)
    assert ntk.lse_independence([*moved, translate], queries=q).verdict == "dependent"


@given(seeds)
def test_duplicated_input_is_found(seed):
    laws = _laws(seed)
    report = ntk.lse_independence([*laws, laws[1]], key=jax.random.key(seed))
    assert report.verdict == "dependent"
    c = report.null
    assert abs(abs(c[1]) - abs(c[3])) < 1e-8 and abs(c[0]) < 1e-8


@given(seeds)
def test_feature_ratio_is_the_root_of_the_eigenvalue_ratio(seed):
    # K = Φ Φᵀ: where the eigenvalues resolve it, λ_min/λ_max = (σ_min/σ_max of Φ)²
    laws = _laws(seed)
    lam = ntk.spectral_ratio(ntk.ntk_silent(THETA, laws, XI, W).K)
    ratio = ntk.feature_ratio(*ntk.silent_features(THETA, laws, XI, W))
    assert abs(ratio**2 - lam) <= 1e-10 * lam + 1e-15


@given(seeds, st.floats(1e-9, 1e-7))
def test_a_nudged_translate_is_ill_conditioned_on_both_sides(seed, t):
    # a translate moved by t: both ratios are of order t, inside the inconclusive zone
    laws = _laws(seed)
    heaviest = int(np.argmax(np.asarray(laws[0].a)))
    x = np.asarray(laws[0].x) + np.array([0.7, -0.3])
    x[heaviest] += t * np.array([0.6, 0.8])
    family = [laws[0], fam.Discrete(x, laws[0].a), laws[1]]
    centred = [law.centred() for law in family]
    theta = silent_init(1, 64, d, key=jax.random.key(seed))
    lse = ntk.lse_independence(family, K=400, key=jax.random.key(seed)).verdict
    kernel = ntk.verdict(ntk.feature_ratio(*ntk.silent_features(theta, centred, XI, W)))
    assert lse == kernel == "ill-conditioned", (lse, kernel)

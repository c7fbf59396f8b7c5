"""ntk.py and lse_test.py: the NTK from JAX and in closed form, the mean-field limit, the LSE
test, their errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from tolerances import NTK_JACREV_RTOL, NTK_MEAN_FIELD_RTOL

import mftransformer as mft
from mftransformer import families as fam
from mftransformer import ntk
from mftransformer.experiments import ntk as chapter
from mftransformer.experiments.ntk import setting
from mftransformer.solver import lse_test
from mftransformer.solver.tasks import generic_init, silent_init

#: the chapter's claim (printed < 1e-12): closed form vs L M J Jᵀ, float64 round-off
CLOSED_FORM_RTOL = chapter.CLAIMS["ntk_closed_form"].band

N, n, d = 3, 4, 2
XI = jnp.broadcast_to(jnp.array([1.0, 0.5]), (N, d))
W = jnp.array([[1.0, -0.5]])


def _mu():
    return fam.stack([law.centred() for law in fam.clouds(N, n, d, key=jax.random.key(1))])


def _rel(a, b):
    return float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b)))


def test_silent_closed_form_matches_jacobian():
    theta = silent_init(2, 6, d, key=jax.random.key(2))
    exact, jac = ntk.ntk_silent(theta, _mu(), XI, W), ntk.ntk_jacobian(theta, _mu(), XI, W)
    for block in ("K", "K_V", "K_QK"):
        err = _rel(getattr(exact, block), getattr(jac, block))
        assert err < CLOSED_FORM_RTOL, f"{block}: relative error {err:.2e}"


def test_jacobian_gram_matches_jacrev_at_generic_point_with_chunks():
    theta = generic_init(2, 3, d, key=jax.random.key(3))
    xi = jax.random.normal(jax.random.key(4), (N, d))
    W2 = jnp.array([[1.0, -0.5], [0.3, 0.7]])
    K = ntk.ntk_jacobian(theta, _mu(), xi, W2, max_bytes=60_000)  # forces several chunks

    def outputs(th):
        return (mft.forward(th, _mu(), xi).queries[:, 0] @ W2.T).reshape(-1)

    J = jax.jacrev(outputs)(theta)
    JA, JV = J.A.reshape(2 * N, -1), J.V.reshape(2 * N, -1)
    scale = theta.L * theta.M
    assert _rel(K.K_V, scale * JV @ JV.T) < NTK_JACREV_RTOL["float64"]
    assert _rel(K.K_QK, scale * JA @ JA.T) < NTK_JACREV_RTOL["float64"]
    assert K.K.shape == (2 * N, 2 * N)


def test_mean_field_limit_is_approached():
    laws = [law.centred() for law in fam.clouds(N, n, d, key=jax.random.key(1))]
    ref = ntk.ntk_infinite_width(laws, XI[0], W, sigma_A=1.0, sigma_V=1.0, nodes=40)
    theta = silent_init(1, 4000, d, key=jax.random.key(5))
    K = ntk.ntk_silent(theta, laws, XI, W)
    err = float(jnp.linalg.norm(K.K - ref.K) / jnp.linalg.norm(ref.K))
    assert err < NTK_MEAN_FIELD_RTOL, f"relative error {err:.3f} at P = 2000"


def test_features_are_the_kernel_s_factors():
    theta = silent_init(2, 10, d, key=jax.random.key(6))
    laws = [law.centred() for law in fam.clouds(N, n, d, key=jax.random.key(1))]
    K = ntk.ntk_silent(theta, laws, XI, W)
    phi_V, phi_QK = ntk.silent_features(theta, laws, XI, W)
    assert phi_V.shape == phi_QK.shape == (N, 2, 5, d * d)
    H = 2 * 5
    for phi, block in ((phi_V, K.K_V), (phi_QK, K.K_QK)):
        gram = np.einsum("rlhk,slhk->rs", phi, phi) / H
        assert _rel(jnp.asarray(gram), block) < 1e-14
    # the feature ratio is the square root of the eigenvalue ratio where both resolve it
    ratio = ntk.feature_ratio(phi_V, phi_QK)
    assert abs(ratio**2 / ntk.spectral_ratio(K.K) - 1) < 1e-8


def test_the_feature_ratio_resolves_what_the_eigenvalues_cannot():
    # T nudged by 1e-8: the kernel's λ ratio is at its round-off floor (~1e-16); the features
    # keep the nudge (a ratio ~ the nudge), as the LSE test does
    laws = [law.centred() for law in fam.family("TN", key=jax.random.key(0)).laws]
    theta = silent_init(1, 64, d, key=jax.random.key(2))
    xi = jnp.broadcast_to(XI[0], (3, d))
    lam = ntk.spectral_ratio(ntk.ntk_silent(theta, laws, xi, W).K)
    ratio = ntk.feature_ratio(*ntk.silent_features(theta, laws, xi, W))
    assert abs(lam) < 1e-14 and 1e-11 < ratio < 1e-7, (lam, ratio)
    assert ntk.verdict(ratio) == "ill-conditioned"


def test_fewer_feature_columns_than_outputs_are_singular_by_rank():
    assert ntk.feature_ratio(np.ones((3, 2))) == 0.0
    assert ntk.feature_ratio(np.zeros((2, 4))) == 0.0


def test_prefix_kernels_are_the_kernels_of_the_first_pairs():
    theta = silent_init(3, 24, d, key=jax.random.key(7))
    K = ntk.ntk_silent_prefixes(theta, _mu(), XI, W, [6, 2, 12])
    assert K.shape == (3, 3, N, N)
    heads = (np.asarray(theta.A), np.asarray(theta.V))
    for i, P in enumerate([6, 2, 12]):
        for layer in range(3):
            ref = ntk.ntk_silent(setting.pairs(heads, layer, P), _mu(), XI, W).K
            assert _rel(jnp.asarray(K[i, layer]), ref) < 1e-13


def test_three_valued_verdict():
    assert ntk.verdict(0.0) == "dependent" and ntk.verdict(ntk.DEPENDENT_BELOW / 2) == "dependent"
    assert ntk.verdict(1e-9) == "ill-conditioned"
    assert ntk.verdict(ntk.INDEPENDENT_ABOVE * 2) == "independent"


def test_projected_ratio_is_the_ratio_of_the_test():
    laws = fam.family("D6", key=jax.random.key(0)).laws
    report = ntk.lse_independence(laws, K=300, key=jax.random.key(1))
    q = np.asarray(report.queries)
    F = np.stack([np.asarray(law.lse(q)) for law in laws], axis=1)
    basis = np.concatenate([np.ones((q.shape[0], 1)), q], axis=1)
    ratio = float(ntk.projected_ratio(jnp.asarray(F), jnp.asarray(basis)))
    assert abs(ratio / report.ratio - 1) < 1e-10
    assert float(ntk.projected_ratio(jnp.asarray(basis[:, 1:]), jnp.asarray(basis))) == 0.0


def test_laws_and_measure_give_the_same_kernel():
    theta = silent_init(1, 8, d, key=jax.random.key(6))
    laws = [law.centred() for law in fam.clouds(N, n, d, key=jax.random.key(1))]
    a, b = ntk.ntk_silent(theta, laws, XI, W), ntk.ntk_silent(theta, fam.stack(laws), XI, W)
    assert _rel(a.K, b.K) < 1e-14


def test_spectrum_ratio_and_rank_bound():
    assert np.allclose(ntk.spectrum(jnp.diag(jnp.array([3.0, 1.0]))), [1.0, 3.0])
    assert ntk.spectral_ratio(jnp.zeros((2, 2))) == 0.0
    assert ntk.rank_bound(12, 1, 2, 2) == 8 and ntk.rank_bound(12, 1, 4, 2) == 12


def test_lse_report_prints_verdict_margin_threshold():
    report = ntk.lse_independence(
        fam.family("D6", key=jax.random.key(0)).laws, key=jax.random.key(1)
    )
    text = str(report)
    assert report.holds and report.margin > 2
    assert "independent" in text and "1e-06" in text and "margin" in text
    dep = ntk.lse_independence([fam.bernoulli(0.3), fam.binomial(2, 0.3)], key=jax.random.key(1))
    assert not dep.holds and dep.margin > 2 and dep.nullity == 1


def test_lse_test_lives_in_its_module_and_ntk_re_exports_it():
    for name in ("lse_independence", "LSEReport", "DEPENDENT_BELOW", "INDEPENDENT_ABOVE"):
        assert getattr(ntk, name) is getattr(lse_test, name)
    assert ntk.MAX_BYTES == lse_test.MAX_BYTES


def test_continuous_laws_give_the_closed_form_tilted_stats_to_the_kernel():
    # a Gaussian law's kernel uses m = Σ A ξ, C = Σ: the V block is (WWᵀ) E⟨Σ A ξ_i, Σ A ξ_j⟩
    theta = silent_init(1, 8, d, key=jax.random.key(6))
    laws = [fam.Gaussian(np.zeros(2), np.diag([1.0, s])) for s in (0.5, 1.0, 2.0)]
    K = ntk.ntk_silent(theta, laws, XI, W)
    A = np.asarray(theta.A[0, :4])
    m = np.stack([np.einsum("ij,hjk,k->hi", np.asarray(law.Sigma), A, XI[0]) for law in laws])
    G_V = np.einsum("ihc,jhc->ij", m, m) / 4
    np.testing.assert_allclose(K.K_V, G_V * float((W @ W.T)[0, 0]), rtol=1e-13)


def test_lse_on_empirical_measure_and_given_queries():
    mu = _mu()
    q = jax.random.normal(jax.random.key(7), (50, d))
    report = ntk.lse_independence(mu, queries=q)
    assert report.verdict == "independent" and report.queries.shape == (50, d)


# ---------------------------------------------------------------- errors
def test_not_silent_is_an_error():
    theta = generic_init(1, 4, d, key=jax.random.key(0))
    with pytest.raises(mft.ParameterError, match="ntk_silent: theta is not at the silent point"):
        ntk.ntk_silent(theta, _mu(), XI, W)
    with pytest.raises(mft.ParameterError, match="silent_features: theta is not at the silent"):
        ntk.silent_features(theta, _mu(), XI, W)
    with pytest.raises(mft.ParameterError, match="ntk_silent_prefixes: theta is not at the"):
        ntk.ntk_silent_prefixes(theta, _mu(), XI, W, [1])


def test_prefixes_beyond_the_pairs_are_an_error():
    theta = silent_init(1, 4, d, key=jax.random.key(0))
    with pytest.raises(mft.ParameterError, match=r"Ps = \[3\]; allowed 1 <= P <= M/2 = 2 pairs"):
        ntk.ntk_silent_prefixes(theta, _mu(), XI, W, [3])


def test_shapes_are_checked():
    theta = silent_init(1, 4, d, key=jax.random.key(0))
    with pytest.raises(mft.ParameterError, match="xi has shape"):
        ntk.ntk_jacobian(theta, _mu(), XI[:2], W)
    with pytest.raises(mft.ParameterError, match="allowed xi0"):
        ntk.ntk_infinite_width(_mu(), jnp.ones(3), W, sigma_A=1.0, sigma_V=1.0)


def test_memory_is_estimated_before_allocating():
    theta = silent_init(1, 4, d, key=jax.random.key(0))
    with pytest.raises(mft.ParameterError, match="ntk_jacobian: estimated memory"):
        ntk.ntk_jacobian(theta, _mu(), XI, W, max_bytes=1000)
    with pytest.raises(mft.ParameterError, match="ntk_silent: estimated memory"):
        ntk.ntk_silent(theta, _mu(), XI, W, max_bytes=100)
    with pytest.raises(mft.ParameterError, match="Gauss-Hermite points need"):
        ntk.ntk_infinite_width(_mu(), XI[0], W, sigma_A=1.0, sigma_V=1.0, max_bytes=1000)
    with pytest.raises(mft.ParameterError, match="lse_independence: estimated memory"):
        ntk.lse_independence(_mu(), key=jax.random.key(0), max_bytes=1000)


def test_lse_bad_input():
    key = jax.random.key(0)
    laws = [fam.bernoulli(0.3), fam.binomial(2, 0.3)]
    with pytest.raises(mft.ParameterError, match="modulo = 'afine'.*Did you mean 'affine'"):
        ntk.lse_independence(laws, key=key, modulo="afine")
    with pytest.raises(mft.ParameterError, match="key = None"):
        ntk.lse_independence(laws)
    with pytest.raises(mft.ParameterError, match=r"queries have shape \(4, 3\)"):
        ntk.lse_independence(laws, queries=jnp.zeros((4, 3)))
    with pytest.raises(mft.ParameterError, match=r"K = 4 query points; allowed K >= N \+ 3 = 5"):
        ntk.lse_independence(laws, K=4, key=key)
    with pytest.raises(mft.ParameterError, match="dimensions d = \\[2, 1\\]"):
        ntk.lse_independence([fam.bernoulli(0.3), fam.dirac([0.5])], key=key)
    bad = fam.Discrete(np.zeros((2, 2)), np.array([0.5, 0.6]))
    with pytest.raises(mft.ParameterError, match="input 1: weights sum to 1.1"):
        ntk.lse_independence([fam.bernoulli(0.3), bad], key=key)


def test_lse_test_needs_float64():
    laws = [fam.bernoulli(0.3), fam.binomial(2, 0.3)]
    mft.configure(x64=False)
    try:
        with pytest.raises(mft.ParameterError, match="jax_enable_x64 = False; allowed True"):
            ntk.lse_independence(laws, key=jax.random.key(0))
    finally:
        mft.configure()

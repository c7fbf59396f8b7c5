"""families.py: the table of chapter-4 families (MATH.md §5.5), their draws, the re-exported API."""

import jax
import numpy as np
import pytest

import mftransformer as mft
from mftransformer import families as fam
from mftransformer.solver import laws, measures

KEY = jax.random.key(0)


@pytest.mark.parametrize("name", fam.FAMILIES)
def test_every_family_builds_with_one_dimension(name):
    family = fam.family(name, key=KEY)
    assert family.name == name and len(family.laws) >= 2
    assert all(isinstance(law, laws.Law) for law in family.laws)
    assert len({law.d for law in family.laws}) == 1
    assert family.affine in ("independent", "ill-conditioned", "dependent") and family.reason
    assert family.constant in ("independent", "dependent")
    # dependent modulo constants implies dependent modulo affine functions
    assert family.constant == "independent" or family.affine == "dependent"
    if family.null is not None:
        assert len(family.null) == len(family.laws)


def test_the_table_lists_holding_then_ill_conditioned_then_failing_families():
    assert fam.FAMILIES == tuple(fam.TABLE)
    rank = {"independent": 0, "ill-conditioned": 1, "dependent": 2}
    order = [rank[fam.TABLE[n].affine] for n in fam.FAMILIES]
    assert order == sorted(order)
    assert (
        order.count(0) == 6 and order.count(1) == 1 and fam.TABLE["TN"].affine == "ill-conditioned"
    )


def test_the_ill_conditioned_family_is_a_nudged_translate():
    t, tn = fam.family("T", key=KEY).laws, fam.family("TN", key=KEY).laws
    np.testing.assert_array_equal(tn[0].x, t[0].x)
    np.testing.assert_array_equal(tn[2].x, t[2].x)
    moved = np.linalg.norm(np.asarray(tn[1].x) - np.asarray(t[1].x), axis=1)
    heaviest = int(np.argmax(np.asarray(t[1].a)))
    assert abs(moved[heaviest] - fam.NUDGE) < 1e-15
    assert np.count_nonzero(moved) == 1


@pytest.mark.parametrize("name", ["T", "BB", "CV", "G1", "US"])
def test_predicted_null_combinations_are_exact(name):
    # Σ c_i LSE_i is affine: its second differences along a line vanish
    family = fam.family(name, key=KEY)
    d = family.laws[0].d
    q = np.linspace(-1.0, 1.0, 7)[:, None] * np.linspace(0.5, 1.0, d)[None]
    combo = sum(c * np.asarray(law.lse(q)) for c, law in zip(family.null, family.laws, strict=True))
    assert np.max(np.abs(np.diff(combo, 2))) < 1e-13


def test_draws_are_the_published_numpy_stream():
    # D6 = 6 clouds of 4 atoms: standard normals then Dirichlet(1) weights, from tag 0
    rng = np.random.default_rng(np.asarray(jax.random.key_data(jax.random.fold_in(KEY, 0))))
    x, a = rng.standard_normal((6, 4, 2)), rng.dirichlet(np.ones(4), size=6)
    d6 = fam.family("D6", key=KEY).laws
    np.testing.assert_array_equal(np.stack([law.x for law in d6]), x)
    np.testing.assert_array_equal(np.stack([law.a for law in d6]), a)
    t = fam.family("T", key=KEY).laws
    np.testing.assert_array_equal(t[1].x, x[0] + np.array([0.7, -0.3]))
    assert all(law.x.dtype == np.float64 for law in d6)


def test_clouds_and_families_are_reproducible_and_key_dependent():
    a = fam.clouds(3, 5, key=KEY)
    b = fam.clouds(3, 5, key=KEY)
    c = fam.clouds(3, 5, key=jax.random.key(1))
    np.testing.assert_array_equal(a[2].x, b[2].x)
    assert not np.allclose(a[2].x, c[2].x)
    g3, g4 = fam.family("G3", key=KEY).laws, fam.family("G4", key=KEY).laws
    np.testing.assert_array_equal(g3[2].m, g4[2].m)  # G3 is G4 without its last law


def test_the_laws_api_is_re_exported():
    for name in ("Discrete", "Gaussian", "Box", "Mixture", "Law", "laws_of", "stack", "sample"):
        assert getattr(fam, name) is getattr(laws, name)
    for name in ("dirac", "bernoulli", "binomial", "convolution"):
        assert getattr(fam, name) is getattr(laws, name)
    assert fam.WEIGHT_SUM_ATOL == measures.WEIGHT_SUM_ATOL


def test_unknown_family_suggests_a_name():
    with pytest.raises(mft.ParameterError, match="name = 'BBB'.*Did you mean 'BB'"):
        fam.family("BBB", key=KEY)

"""families.py: laws, their closed-form LSE and tilted statistics, the named families, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from tolerances import LAW_TILTED_RTOL

import mftransformer as mft
from mftransformer import families as fam

LAWS = [
    fam.Discrete(np.array([[0.0, 1.0], [2.0, -1.0], [0.5, 0.5]]), np.array([0.2, 0.5, 0.3])),
    fam.Gaussian(np.array([0.3, -0.2]), np.array([[0.8, 0.4], [0.4, 0.6]])),
    fam.Box(np.array([0.0, -1.0]), np.array([1.0, 2.0])),
    fam.Mixture(
        np.array([0.3, 0.7]),
        np.array([[0.0, 1.0], [1.0, -1.0]]),
        np.array([np.eye(2), [[0.5, 0.1], [0.1, 0.4]]]),
    ),
]
# queries spanning the series/closed-form switch of the box (|ℓ q| around 0.1) and larger ones
Q = np.array([[0.0, 0.0], [0.03, -0.05], [0.09, 0.11], [-0.7, 1.3], [2.5, -1.5]])


@pytest.mark.parametrize("law", LAWS, ids=lambda law: type(law).__name__)
def test_tilted_stats_are_gradient_and_hessian_of_lse(law):
    m, C = law.tilted(Q)
    m_ad = jax.vmap(jax.grad(law.lse))(jnp.asarray(Q))
    C_ad = jax.vmap(jax.hessian(law.lse))(jnp.asarray(Q))
    if isinstance(law, fam.Box):
        # at q = 0 both give the variance ℓ²/12 (measures.lse_box uses the series t/2 + t²/24)
        assert np.allclose(C[0], np.diag((law.high - law.low) ** 2 / 12), rtol=1e-14)
        assert np.allclose(C_ad[0], C[0], rtol=1e-12)
    assert np.max(np.abs(m - m_ad)) < LAW_TILTED_RTOL["float64"] * np.max(np.abs(m_ad))
    assert np.max(np.abs(C - C_ad)) < LAW_TILTED_RTOL["float64"] * np.max(np.abs(C_ad))
    lse_np = law.lse_at(Q)
    assert np.allclose(lse_np, jax.vmap(law.lse)(jnp.asarray(Q)), rtol=1e-13, atol=1e-15)
    assert abs(lse_np[0]) < 1e-15  # LSE(0) = 0


@pytest.mark.parametrize("law", LAWS, ids=lambda law: type(law).__name__)
def test_centring_removes_the_mean(law):
    assert np.allclose(law.centred().mean(), 0.0, atol=1e-15)
    m, _ = law.centred().tilted(np.zeros((1, 2)))
    assert np.allclose(m, 0.0, atol=1e-14)


def test_binomial_is_a_convolution_power_and_convolution_adds():
    bern, binom = fam.bernoulli(0.3), fam.binomial(2, 0.3)
    assert np.allclose(binom.lse_at(Q), 2 * bern.lse_at(Q), atol=1e-14)
    conv = fam.convolution(LAWS[0], bern)
    assert np.allclose(conv.lse_at(Q), LAWS[0].lse_at(Q) + bern.lse_at(Q), atol=1e-13)


def test_sample_and_stack_shapes():
    key = jax.random.key(0)
    samples = [fam.sample(law, 7, key=key) for law in LAWS]
    assert all(s.x.shape == (7, 2) for s in samples)
    mu = fam.stack([fam.bernoulli(0.3), fam.binomial(2, 0.3)])
    assert mu.x.shape == (2, 3, 2) and float(mu.a[0, 2]) == 0.0


@pytest.mark.parametrize("name", fam.FAMILIES)
def test_every_family_builds_with_one_dimension(name):
    family = fam.family(name, key=jax.random.key(0))
    assert len({law.d for law in family.laws}) == 1
    assert family.affine in ("independent", "dependent") and family.reason


# ---------------------------------------------------------------- errors
def test_laws_of_errors():
    with pytest.raises(mft.ParameterError, match="input of type str"):
        fam.laws_of(["cloud"])
    with pytest.raises(mft.ParameterError, match="no inputs"):
        fam.laws_of([])
    with pytest.raises(mft.ParameterError, match=r"dimensions d = \[2, 1\]"):
        fam.laws_of([fam.bernoulli(0.3), fam.dirac([1.0])])
    with pytest.raises(mft.ParameterError, match="input 0: weights sum to 0.9"):
        fam.laws_of([fam.Discrete(np.zeros((2, 1)), np.array([0.4, 0.5]))])
    with pytest.raises(mft.ParameterError, match="negative or non-finite"):
        fam.laws_of([fam.Discrete(np.zeros((2, 1)), np.array([1.5, -0.5]))])
    with pytest.raises(mft.ParameterError, match="high < low"):
        fam.laws_of([fam.Box(np.array([1.0]), np.array([0.0]))])
    with pytest.raises(mft.ParameterError, match="not symmetric PSD"):
        fam.laws_of([fam.Gaussian(np.zeros(2), np.array([[1.0, 0.0], [0.0, -1.0]]))])


def test_family_and_builder_errors():
    with pytest.raises(mft.ParameterError, match="name = 'BBB'.*Did you mean 'BB'"):
        fam.family("BBB", key=jax.random.key(0))
    with pytest.raises(mft.ParameterError, match="p = 1.5; allowed 0 < p < 1"):
        fam.binomial(2, 1.5)
    with pytest.raises(mft.ParameterError, match="allowed Discrete only"):
        fam.stack([LAWS[1]])

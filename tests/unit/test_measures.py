"""Unit tests of measures.py: shapes, weights, padding, closed-form LSEs, error messages."""

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
from tolerances import GAUSSIAN_LSE_MC_ATOL, SAME_ALGEBRA_RTOL

import mftransformer as mft
from mftransformer import measures
from mftransformer.solver.errors import ParameterError

RTOL = SAME_ALGEBRA_RTOL["float64"]


def test_empirical_shapes_and_uniform_weights():
    mu = mft.empirical(jnp.ones((5, 3)))
    assert mu.x.shape == (1, 5, 3) and mu.a.shape == (1, 5)
    assert (mu.B, mu.n, mu.d) == (1, 5, 3)
    np.testing.assert_allclose(mu.a.sum(axis=1), 1.0, rtol=RTOL)


@pytest.mark.parametrize(
    "sampler",
    [
        lambda k: mft.sample_gaussian(k, 3, 7, 2),
        lambda k: mft.sample_box(k, 3, 7, [0.0, -1.0], [1.0, 1.0]),
        lambda k: mft.sample_mixture(
            k, 3, 7, [0.5, 0.5], jnp.zeros((2, 2)), jnp.stack([jnp.eye(2)] * 2)
        ),
        lambda k: mft.sample_cloud(k, 3, 7, 2),
    ],
)
def test_samplers_shapes_and_weights_sum_to_one(sampler):
    mu = sampler(jax.random.key(0))
    assert mu.x.shape == (3, 7, 2) and mu.a.shape == (3, 7)
    assert np.all(np.asarray(mu.a) >= 0)
    np.testing.assert_allclose(mu.a.sum(axis=1), 1.0, rtol=1e-12)


def test_sample_box_inside_the_box():
    mu = mft.sample_box(jax.random.key(1), 2, 50, [0.0, -1.0], [1.0, 2.0])
    assert np.all(np.asarray(mu.x[..., 0]) >= 0) and np.all(np.asarray(mu.x[..., 1]) <= 2)


def test_loga_minus_inf_on_padding_and_finite_gradient():
    mu = measures.pad(mft.empirical(jnp.ones((2, 2))), 4)
    assert mu.n == 4 and np.all(np.isneginf(np.asarray(mu.loga[0, 2:])))
    grad = jax.grad(lambda a: jnp.sum(jnp.exp(measures.EmpiricalMeasure(mu.x, a).loga)))(mu.a)
    assert np.all(np.isfinite(np.asarray(grad)))


def test_center_and_translate():
    mu = mft.sample_cloud(jax.random.key(2), 2, 5, 3)
    np.testing.assert_allclose(mft.center(mu).mean(), 0.0, atol=1e-14)
    b = jnp.array([1.0, -2.0, 0.5])
    np.testing.assert_allclose(measures.translate(mu, b).mean(), mu.mean() + b[None], rtol=RTOL)


def test_lse_translation_and_convolution_identities():
    k1, k2, k3 = jax.random.split(jax.random.key(3), 3)
    mu, nu = mft.sample_cloud(k1, 1, 4, 2), mft.sample_cloud(k2, 1, 3, 2)
    q = jax.random.normal(k3, (1, 2))
    b = jnp.array([0.3, -0.7])
    np.testing.assert_allclose(
        mft.lse(measures.translate(mu, b), q), mft.lse(mu, q) + q @ b, rtol=RTOL
    )
    np.testing.assert_allclose(
        mft.lse(measures.convolve(mu, nu), q), mft.lse(mu, q) + mft.lse(nu, q), rtol=RTOL
    )
    np.testing.assert_allclose(mft.lse(mu, jnp.zeros((1, 2))), 0.0, atol=1e-15)


def test_lse_finite_for_logits_of_1e4():
    mu = mft.empirical(jnp.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]]))
    value = mft.lse(mu, jnp.array([[1e4, 0.0]]))
    assert np.isfinite(float(value[0]))
    np.testing.assert_allclose(value, 1e4 + np.log(1 / 3), rtol=RTOL)


def test_gaussian_closed_form_vs_many_samples():
    mean, cov = jnp.array([0.5, -0.2]), jnp.array([[1.0, 0.3], [0.3, 0.5]])
    q = jnp.array([0.4, -0.3])
    mu = mft.sample_gaussian(jax.random.key(4), 1, 100_000, 2, mean=mean, cov=cov)
    measured = float(mft.lse(mu, q[None])[0])
    exact = float(measures.lse_gaussian(mean, cov, q))
    assert abs(measured - exact) < GAUSSIAN_LSE_MC_ATOL, f"MC {measured} vs exact {exact}"


def test_box_and_mixture_closed_forms_vs_samples():
    q = jnp.array([0.7, -0.4])
    box = mft.sample_box(jax.random.key(5), 1, 100_000, [0.0, -1.0], [1.0, 2.0])
    assert (
        abs(
            float(mft.lse(box, q[None])[0])
            - float(measures.lse_box(jnp.array([0.0, -1.0]), jnp.array([1.0, 2.0]), q))
        )
        < GAUSSIAN_LSE_MC_ATOL
    )
    w, m, c = (
        jnp.array([0.3, 0.7]),
        jnp.array([[1.0, 0.0], [-1.0, 0.5]]),
        jnp.stack([0.5 * jnp.eye(2)] * 2),
    )
    mix = mft.sample_mixture(jax.random.key(6), 1, 100_000, w, m, c)
    assert (
        abs(float(mft.lse(mix, q[None])[0]) - float(measures.lse_mixture(w, m, c, q)))
        < GAUSSIAN_LSE_MC_ATOL
    )
    np.testing.assert_allclose(
        measures.lse_box(jnp.zeros(2), jnp.ones(2), jnp.zeros(2)), 0.0, atol=1e-15
    )


def test_empirical_inconsistent_shapes_name_both(without_shape_hints):
    with pytest.raises(ParameterError, match=r"x has shape \(1, 3, 2\) but a has shape \(1, 4\)"):
        mft.empirical(jnp.zeros((3, 2)), jnp.ones(4) / 4)
    with pytest.raises(ParameterError, match=r"x has shape \(3,\); allowed \(n, d\)"):
        mft.empirical(jnp.zeros(3))
    with pytest.raises(ParameterError, match=r"x has shape \(2, 3, 2\) and a has shape \(2, 2\)"):
        measures.EmpiricalMeasure(jnp.zeros((2, 3, 2)), jnp.zeros((2, 2)))


def test_empirical_bad_weights():
    with pytest.raises(ParameterError, match="negative or non-finite"):
        mft.empirical(jnp.zeros((2, 1)), jnp.array([1.5, -0.5]))
    with pytest.raises(ParameterError, match="weights sum to 0.5"):
        mft.empirical(jnp.zeros((2, 1)), jnp.array([0.25, 0.25]))


def test_pad_too_small():
    with pytest.raises(ParameterError, match=r"pad: n = 1; allowed n >= 2"):
        measures.pad(mft.empirical(jnp.zeros((2, 1))), 1)


def test_one_weight_check_for_measures_and_laws():
    a = np.array([[0.5, 0.5], [0.25, 0.75 + 0.5 * measures.WEIGHT_SUM_ATOL]])
    measures.check_weights(a, "here")  # within the tolerance
    with pytest.raises(ParameterError, match=r"here: weights sum to 1.1; allowed sum 1 .* Fix it."):
        measures.check_weights(np.array([0.5, 0.6]), "here", "Fix it.")
    with pytest.raises(ParameterError, match="here: weights have negative or non-finite"):
        measures.check_weights(np.array([np.nan, 1.0]), "here")


def test_log_weights_is_minus_inf_on_zero_weight_only():
    loga = measures.log_weights(jnp.array([0.0, 0.5, 1.0]))
    assert np.isneginf(float(loga[0])) and float(loga[2]) == 0.0
    np.testing.assert_allclose(loga[1], np.log(0.5), rtol=1e-15)


def test_box_lse_series_and_closed_form_agree_across_the_switch():
    # φ(t) = log((e^t − 1)/t): the Taylor series below |t| = 0.1, the closed form above
    def phi(s):
        return mpmath.log(mpmath.expm1(s) / s) if s != 0 else mpmath.mpf(0)

    hess = jax.hessian(lambda q: measures.lse_box(jnp.zeros(1), jnp.ones(1), q))
    with mpmath.workdps(40):
        for t in (1e-12, 1e-4, 0.0999, 0.1001, -0.1001, 3.0, -40.0):
            value = float(measures.lse_box(jnp.zeros(1), jnp.ones(1), jnp.array([t])))
            assert value == pytest.approx(float(phi(mpmath.mpf(t))), rel=1e-15), t
        for t in (0.0, 1e-7, 1e-3, 0.0999, 0.1001, 2.0):
            exact = float(mpmath.diff(phi, mpmath.mpf(t) + mpmath.mpf("1e-25"), 2))
            assert float(hess(jnp.array([t]))[0, 0]) == pytest.approx(exact, rel=1e-12), t

"""laws.py: the one law interface (lse, tilted, mean, centred, radius), against independent
NumPy closed forms and autodiff; building blocks, sampling, stacking, validation errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from tolerances import LAW_TILTED_RTOL

import mftransformer as mft
from mftransformer.solver import laws

RTOL = LAW_TILTED_RTOL["float64"]
LAWS = [
    laws.Discrete(np.array([[0.0, 1.0], [2.0, -1.0], [0.5, 0.5]]), np.array([0.2, 0.5, 0.3])),
    laws.Gaussian(np.array([0.3, -0.2]), np.array([[0.8, 0.4], [0.4, 0.6]])),
    laws.Box(np.array([0.0, -1.0]), np.array([1.0, 2.0])),
    laws.Mixture(
        np.array([0.3, 0.7]),
        np.array([[0.0, 1.0], [1.0, -1.0]]),
        np.array([np.eye(2), [[0.5, 0.1], [0.1, 0.4]]]),
    ),
]
# queries spanning the box's series/closed-form switch (|ℓ q| around 0.1) and larger ones
Q = np.array([[0.0, 0.0], [0.03, -0.05], [0.09, 0.11], [-0.7, 1.3], [2.5, -1.5]])
IDS = lambda law: type(law).__name__  # noqa: E731


# ---------------------------------------------------------------- independent references (NumPy)
def _softmax_stats(x, a, Q):
    logits = Q @ x.T + np.log(a)
    w = np.exp(logits - logits.max(axis=-1, keepdims=True))
    w /= w.sum(axis=-1, keepdims=True)
    m = w @ x
    dx = x[None] - m[:, None]
    return m, np.einsum("kn,kni,knj->kij", w, dx, dx)


def _box_stats(low, high, Q):
    """``φ'(t) = 1/(1 − e^{−t}) − 1/t``, ``φ''(t) = 1/t² − 1/(4 sinh²(t/2))``; series near 0."""
    ell = high - low
    t = ell * Q
    small = np.abs(t) < 0.1
    safe = np.where(small, 1.0, t)
    d1_small = 0.5 + t / 12 - t**3 / 720 + t**5 / 30240 - t**7 / 1209600
    d2_small = 1 / 12 - t**2 / 240 + t**4 / 6048 - t**6 / 172800
    d1 = np.where(small, d1_small, -1 / np.expm1(-safe) - 1 / safe)
    d2 = np.where(small, d2_small, 1 / safe**2 - 0.25 / np.sinh(safe / 2) ** 2)
    C = np.zeros((*Q.shape, Q.shape[-1]))
    C[:, np.arange(Q.shape[-1]), np.arange(Q.shape[-1])] = ell**2 * d2
    return low + ell * d1, C


def _mixture_stats(w, means, covs, Q):
    logits = np.log(w) + Q @ means.T + 0.5 * np.einsum("ki,cij,kj->kc", Q, covs, Q)
    r = np.exp(logits - logits.max(axis=-1, keepdims=True))
    r /= r.sum(axis=-1, keepdims=True)
    mc = means[None] + np.einsum("cij,kj->kci", covs, Q)
    m = np.einsum("kc,kci->ki", r, mc)
    dm = mc - m[:, None]
    return m, np.einsum("kc,cij->kij", r, covs) + np.einsum("kc,kci,kcj->kij", r, dm, dm)


def _reference(law):
    arrays = [np.asarray(v) for v in jax.tree_util.tree_leaves(law)]
    if isinstance(law, laws.Discrete):
        return _softmax_stats(*arrays, Q)
    if isinstance(law, laws.Gaussian):
        m, S = arrays
        return m + Q @ S.T, np.broadcast_to(S, (len(Q), 2, 2))
    if isinstance(law, laws.Box):
        return _box_stats(*arrays, Q)
    return _mixture_stats(*arrays, Q)


# ---------------------------------------------------------------- the interface
@pytest.mark.parametrize("law", LAWS, ids=IDS)
def test_tilted_matches_closed_forms_and_autodiff(law):
    m, C = law.tilted(Q)
    m_ref, C_ref = _reference(law)
    np.testing.assert_allclose(m, m_ref, rtol=RTOL, atol=RTOL)
    np.testing.assert_allclose(C, C_ref, rtol=RTOL, atol=RTOL)
    m_ad = jax.vmap(jax.grad(law.lse))(jnp.asarray(Q))
    C_ad = jax.vmap(jax.hessian(law.lse))(jnp.asarray(Q))
    np.testing.assert_allclose(m, m_ad, rtol=RTOL, atol=RTOL)
    np.testing.assert_allclose(C, C_ad, rtol=RTOL, atol=RTOL)


@pytest.mark.parametrize("law", LAWS, ids=IDS)
def test_lse_one_query_or_a_batch(law):
    batch = law.lse(Q)
    assert batch.shape == (len(Q),) and batch.dtype == jnp.float64
    assert abs(float(batch[0])) < 1e-15  # LSE(0) = 0
    np.testing.assert_allclose(law.lse(Q[3]), batch[3], rtol=1e-15)
    m, C = law.tilted(Q[3])
    assert m.shape == (2,) and C.shape == (2, 2)
    assert law.lse(Q.reshape(5, 1, 2)).shape == (5, 1)


@pytest.mark.parametrize("law", LAWS, ids=IDS)
def test_centring_removes_the_mean_and_keeps_the_radius(law):
    centred = law.centred()
    assert type(centred) is type(law)
    np.testing.assert_allclose(centred.mean(), 0.0, atol=1e-15)
    np.testing.assert_allclose(centred.tilted(np.zeros(2))[0], 0.0, atol=1e-14)
    assert abs(centred.radius() - law.radius()) < 1e-14
    # LSE of the centred law = LSE − ⟨m_μ, q⟩
    np.testing.assert_allclose(centred.lse(Q), law.lse(Q) - Q @ np.asarray(law.mean()), atol=1e-14)


def test_radius_of_each_kind():
    x, m = np.asarray(LAWS[0].x), np.asarray(LAWS[0].mean())
    assert LAWS[0].radius() == pytest.approx(np.max(np.linalg.norm(x - m, axis=-1)))
    lam = np.linalg.eigvalsh(np.array([[0.8, 0.4], [0.4, 0.6]]))[-1]
    assert LAWS[1].radius() == pytest.approx(2 * np.sqrt(lam))
    assert LAWS[2].radius() == pytest.approx(0.5 * np.sqrt(1 + 9))
    padded = laws.Discrete(np.array([[0.0], [1.0], [50.0]]), np.array([0.5, 0.5, 0.0]))
    assert padded.radius() == pytest.approx(0.5)  # padding is not an atom


def test_box_hessian_is_accurate_near_zero():
    # the closed form of φ'' cancels like ε/t²; the series below |t| = 0.1 keeps ℓ²/12 exact
    box = laws.Box(np.array([0.0]), np.array([2.0]))
    for q in (0.0, 1e-9, 1e-6, 1e-3, 0.0499, 0.0501, 0.3, 20.0, -20.0):
        _, C_ref = _box_stats(np.array([0.0]), np.array([2.0]), np.array([[q]]))
        _, C = box.tilted(np.array([q]))
        np.testing.assert_allclose(C[0, 0], C_ref[0, 0, 0], rtol=1e-12)


def test_series_and_closed_form_meet_at_the_switch():
    for t in (0.0999999, 0.1000001, -0.1000001):
        closed = max(t, 0.0) + np.log(-np.expm1(-abs(t)) / abs(t))
        assert float(laws.Box(np.array([0.0]), np.array([1.0])).lse(np.array([t]))) == (
            pytest.approx(closed, rel=1e-15, abs=1e-17)
        )


def test_discrete_wraps_one_context():
    mu = mft.empirical(jnp.array([[[0.0, 1.0], [1.0, 0.0]], [[2.0, 0.0], [0.0, 2.0]]]))
    law = laws.Discrete.of(mu, 1)
    assert law.measure.x.shape == (1, 2, 2)
    q = jnp.array([[0.3, -0.4], [0.3, -0.4]])
    np.testing.assert_allclose(law.lse(q[1]), mft.lse(mu, q)[1], rtol=1e-15)


# ---------------------------------------------------------------- building blocks
def test_binomial_is_a_convolution_power_and_convolution_adds():
    bern, binom = laws.bernoulli(0.3), laws.binomial(2, 0.3)
    np.testing.assert_allclose(binom.lse(Q), 2 * bern.lse(Q), atol=1e-14)
    conv = laws.convolution(LAWS[0], bern)
    assert conv.x.shape == (6, 2)
    np.testing.assert_allclose(conv.lse(Q), LAWS[0].lse(Q) + bern.lse(Q), atol=1e-13)
    np.testing.assert_allclose(laws.dirac([0.3, 0.1]).lse(Q), Q @ np.array([0.3, 0.1]), atol=1e-15)


@pytest.mark.parametrize("law", LAWS, ids=IDS)
def test_sample_shapes_and_stream(law):
    key = jax.random.key(0)
    s = laws.sample(law, 7, key=key)
    assert s.x.shape == (7, 2) and np.allclose(np.asarray(s.a), 1 / 7)
    np.testing.assert_array_equal(s.x, laws.sample(law, 7, key=key).x)


def test_sample_draws_from_the_numpy_stream_of_the_key():
    # the published stream: default_rng(key_data(fold_in(key, 0))), then the affine map
    key = jax.random.key(3)
    g = laws.Gaussian(np.array([0.5]), np.array([[4.0]]))
    z = np.random.default_rng(np.asarray(jax.random.key_data(jax.random.fold_in(key, 0))))
    np.testing.assert_array_equal(
        laws.sample(g, 5, key=key).x, 0.5 + 2.0 * z.standard_normal((5, 1))
    )
    assert laws.generator(key, 0).standard_normal() == laws.generator(key, 0).standard_normal()


def test_stack_pads_with_zero_weights():
    mu = laws.stack([laws.bernoulli(0.3), laws.binomial(2, 0.3)])
    assert mu.x.shape == (2, 3, 2) and float(mu.a[0, 2]) == 0.0
    back = laws.laws_of(mu)
    np.testing.assert_allclose(back[0].lse(Q), laws.bernoulli(0.3).lse(Q), atol=1e-15)


# ---------------------------------------------------------------- errors
def test_laws_of_errors():
    with pytest.raises(mft.ParameterError, match="input of type str"):
        laws.laws_of(["cloud"])
    with pytest.raises(mft.ParameterError, match="no inputs"):
        laws.laws_of([])
    with pytest.raises(mft.ParameterError, match=r"dimensions d = \[2, 1\]"):
        laws.laws_of([laws.bernoulli(0.3), laws.dirac([1.0])])
    with pytest.raises(mft.ParameterError, match="input 0: weights sum to 0.9"):
        laws.laws_of([laws.Discrete(np.zeros((2, 1)), np.array([0.4, 0.5]))])
    with pytest.raises(mft.ParameterError, match="negative or non-finite"):
        laws.laws_of([laws.Discrete(np.zeros((2, 1)), np.array([1.5, -0.5]))])
    with pytest.raises(mft.ParameterError, match="input 0: weights sum to 0.5"):
        laws.laws_of([laws.Mixture(np.array([0.25, 0.25]), np.zeros((2, 1)), np.ones((2, 1, 1)))])
    with pytest.raises(mft.ParameterError, match="high < low"):
        laws.laws_of([laws.Box(np.array([1.0]), np.array([0.0]))])
    with pytest.raises(mft.ParameterError, match="not symmetric PSD"):
        laws.laws_of([laws.Gaussian(np.zeros(2), np.array([[1.0, 0.0], [0.0, -1.0]]))])
    with pytest.raises(mft.ParameterError, match="not symmetric PSD"):
        laws.laws_of([laws.Mixture(np.ones(1), np.zeros((1, 1)), -np.ones((1, 1, 1)))])


def test_builder_errors():
    with pytest.raises(mft.ParameterError, match="p = 1.5; allowed 0 < p < 1"):
        laws.binomial(2, 1.5)
    with pytest.raises(mft.ParameterError, match="allowed Discrete only"):
        laws.stack([LAWS[1]])

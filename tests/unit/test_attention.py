"""Unit tests of attention.py: shapes, tilted statistics, head and field against explicit loops."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from tolerances import SAME_ALGEBRA_RTOL

import mftransformer as mft
from mftransformer.solver.errors import ParameterError

RTOL = SAME_ALGEBRA_RTOL["float64"]


@pytest.fixture(scope="module")
def setup():
    k1, k2, k3, k4 = jax.random.split(jax.random.key(0), 4)
    mu = mft.sample_cloud(k1, 2, 5, 3)
    A = 0.5 * jax.random.normal(k2, (4, 3, 3))
    V = jax.random.normal(k3, (4, 3, 3))
    z = jax.random.normal(k4, (2, 6, 3))
    return mu, A, V, z


def test_tilted_stats_shapes_and_weights_sum_to_one(setup):
    mu, A, _, z = setup
    w, m, C = mft.tilted_stats(A, mu, z)
    assert w.shape == (2, 4, 6, 5) and m.shape == (2, 4, 6, 3) and C.shape == (2, 4, 6, 3, 3)
    np.testing.assert_allclose(w.sum(-1), 1.0, rtol=RTOL)
    np.testing.assert_allclose(C, jnp.swapaxes(C, -1, -2), rtol=RTOL, atol=1e-15)
    assert np.all(np.linalg.eigvalsh(np.asarray(C)) > -1e-12)


def test_tilted_stats_are_derivatives_of_lse(setup):
    mu, A, _, z = setup
    _, m, C = mft.tilted_stats(A, mu, z)
    q = A[1] @ z[0, 2]
    one = mft.empirical(mu.x[0], mu.a[0])
    f = lambda q: mft.lse(one, q[None])[0]  # noqa: E731
    np.testing.assert_allclose(jax.grad(f)(q), m[0, 1, 2], rtol=1e-10)
    np.testing.assert_allclose(jax.hessian(f)(q), C[0, 1, 2], rtol=1e-10, atol=1e-13)


def test_field_against_explicit_loops(setup):
    mu, A, V, z = setup
    F = np.asarray(mft.field(A, V, mu, z))
    x, a = np.asarray(mu.x), np.asarray(mu.a)
    expected = np.zeros_like(F)
    for b in range(2):
        for k in range(6):
            for m in range(4):
                logits = x[b] @ (np.asarray(A[m]) @ np.asarray(z[b, k])) + np.log(a[b])
                w = np.exp(logits - logits.max())
                w /= w.sum()
                expected[b, k] += np.asarray(V[m]) @ (w @ x[b]) / 4
    np.testing.assert_allclose(F, expected, rtol=1e-11)


def test_head_is_one_head_field(setup):
    mu, A, V, z = setup
    np.testing.assert_allclose(
        mft.head(A[0], V[0], mu, z), mft.field(A[:1], V[:1], mu, z), rtol=RTOL
    )


def test_head_bounded_by_support_radius(setup):
    mu, A, _, z = setup
    R = float(jnp.max(jnp.linalg.norm(mu.x, axis=-1)))
    m = mft.head(10 * A[0], jnp.eye(3), mu, 10 * z)
    assert float(jnp.max(jnp.linalg.norm(m, axis=-1))) <= R * (1 + 1e-12)


def test_field_finite_for_logits_of_1e4():
    mu = mft.empirical(jnp.array([[1.0, 0.0], [-1.0, 0.0]]))
    F = mft.field(1e4 * jnp.eye(2)[None], jnp.eye(2)[None], mu, jnp.array([[[1.0, 0.0]]]))
    np.testing.assert_allclose(F[0, 0], [1.0, 0.0], rtol=RTOL)


def test_padding_is_never_a_key(setup):
    mu, A, V, z = setup
    from mftransformer.solver.measures import pad

    padded = pad(mu, 8)
    padded = type(padded)(padded.x.at[:, 5:].set(100.0), padded.a)
    np.testing.assert_allclose(mft.field(A, V, padded, z), mft.field(A, V, mu, z), rtol=RTOL)


def test_smooth_heads_discretise_and_layer():
    theta = mft.tasks.smooth_heads(3, 2, key=jax.random.key(1))
    heads = theta.discretise(4)
    assert heads.A.shape == (4, 3, 2, 2) and (heads.L, heads.M, heads.d) == (4, 3, 2)
    A, V = theta.layer(1, 0.5, 4)
    np.testing.assert_allclose(A, theta.A0 + np.sin(np.pi * 1.5 / 4) * theta.A1, rtol=RTOL)


def test_inconsistent_shapes_name_both(setup, without_shape_hints):
    mu, A, V, z = setup
    with pytest.raises(
        ParameterError, match=r"heads have shape \(4, 2, 2\), mu.x has shape \(2, 5, 3\)"
    ):
        mft.field(A[:, :2, :2], V[:, :2, :2], mu, z)
    with pytest.raises(ParameterError, match=r"z has shape \(6, 3\)"):
        mft.tilted_stats(A, mu, z[0])

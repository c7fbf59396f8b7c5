"""Invariances of the attention field and the forward map, with hypothesis (fixed shapes,
bounded logits; the deterministic profile of tests/conftest.py)."""

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from tolerances import SAME_ALGEBRA_RTOL

import mftransformer as mft
from mftransformer import tasks
from mftransformer.solver.measures import EmpiricalMeasure

RTOL = SAME_ALGEBRA_RTOL["float64"]
ATOL = 1e-12
N, D, M = 5, 2, 3

seeds = st.integers(min_value=0, max_value=2**31 - 1)
scales = st.floats(min_value=0.1, max_value=2.0)  # bounded logits: |A| |x| |z| <= ~30


def draw(seed, scale):
    k1, k2, k3, k4 = jax.random.split(jax.random.key(seed), 4)
    mu = mft.sample_cloud(k1, 1, N, D)
    theta = tasks.generic_init(3, M, D, key=k2, sigma_A=scale)
    z = jax.random.normal(k3, (1, 2, D))
    perm = jax.random.permutation(k4, N)
    return mu, theta, z, perm


@given(seeds, scales)
def test_field_invariant_under_permuting_tokens_with_weights(seed, scale):
    mu, theta, z, perm = draw(seed, scale)
    permuted = EmpiricalMeasure(mu.x[:, perm], mu.a[:, perm])
    np.testing.assert_allclose(
        mft.field(theta.A[0], theta.V[0], permuted, z),
        mft.field(theta.A[0], theta.V[0], mu, z),
        rtol=RTOL,
        atol=ATOL,
    )


@given(seeds, scales)
def test_forward_equivariant_under_permuting_tokens(seed, scale):
    mu, theta, z, perm = draw(seed, scale)
    out = mft.forward(theta, mu, z)
    out_p = mft.forward(theta, EmpiricalMeasure(mu.x[:, perm], mu.a[:, perm]), z)
    np.testing.assert_allclose(out_p.tokens, out.tokens[:, perm], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(out_p.queries, out.queries, rtol=RTOL, atol=ATOL)


@given(seeds, scales, st.floats(min_value=0.05, max_value=0.95))
def test_splitting_a_token_changes_nothing(seed, scale, frac):
    mu, theta, z, _ = draw(seed, scale)
    x = jnp.concatenate([mu.x, mu.x[:, :1]], axis=1)
    a = jnp.concatenate([mu.a.at[:, 0].multiply(frac), mu.a[:, :1] * (1 - frac)], axis=1)
    split = EmpiricalMeasure(x, a)
    np.testing.assert_allclose(
        mft.forward(theta, split, z).queries,
        mft.forward(theta, mu, z).queries,
        rtol=RTOL,
        atol=ATOL,
    )


@given(seeds, scales)
def test_zero_weight_padding_changes_nothing(seed, scale):
    mu, theta, z, _ = draw(seed, scale)
    padded = EmpiricalMeasure(
        jnp.concatenate([mu.x, 50 * jnp.ones((1, 2, D))], axis=1),
        jnp.concatenate([mu.a, jnp.zeros((1, 2))], axis=1),
    )
    out = mft.forward(theta, padded, z)
    np.testing.assert_allclose(out.queries, mft.forward(theta, mu, z).queries, rtol=RTOL, atol=ATOL)


@given(seeds, scales, st.floats(min_value=-3.0, max_value=3.0))
def test_field_linear_in_v(seed, scale, c):
    mu, theta, z, _ = draw(seed, scale)
    A, V = theta.A[0], theta.V[0]
    V2 = theta.V[1]
    np.testing.assert_allclose(
        mft.field(A, V + c * V2, mu, z),
        mft.field(A, V, mu, z) + c * mft.field(A, V2, mu, z),
        rtol=1e-10,
        atol=ATOL,
    )


@given(seeds, scales)
def test_lse_translation_adds_a_linear_term(seed, scale):
    mu, _, z, _ = draw(seed, scale)
    b = scale * jnp.array([0.3, -0.4])
    q = z[:, 0]
    moved = EmpiricalMeasure(mu.x + b[None, None], mu.a)
    np.testing.assert_allclose(mft.lse(moved, q), mft.lse(mu, q) + q @ b, rtol=RTOL, atol=ATOL)


@given(seeds, scales)
def test_duplicated_heads_change_nothing(seed, scale):
    mu, theta, z, _ = draw(seed, scale)
    doubled = mft.Heads(
        jnp.concatenate([theta.A] * 2, axis=1), jnp.concatenate([theta.V] * 2, axis=1)
    )
    np.testing.assert_allclose(
        mft.forward(doubled, mu, z).z, mft.forward(theta, mu, z).z, rtol=RTOL, atol=ATOL
    )


@given(seeds, scales)
def test_silent_init_is_the_identity(seed, scale):
    mu, _, z, _ = draw(seed, scale)
    theta = tasks.silent_init(3, 4, D, key=jax.random.key(seed), sigma_A=scale)
    out = mft.forward(theta, mu, z)
    np.testing.assert_allclose(out.z, jnp.concatenate([mu.x, z], axis=1), atol=1e-14)


@given(seeds, scales)
def test_tilted_weights_sum_to_one_and_head_is_bounded(seed, scale):
    mu, theta, z, _ = draw(seed, scale)
    w, m, _ = mft.tilted_stats(10 * theta.A[0], mu, 10 * z)
    np.testing.assert_allclose(w.sum(-1), 1.0, rtol=RTOL)
    R = float(jnp.max(jnp.linalg.norm(mu.x, axis=-1)))
    assert float(jnp.max(jnp.linalg.norm(m, axis=-1))) <= R * (1 + 1e-12)


@given(seeds, scales)
def test_forward_is_deterministic(seed, scale):
    mu, theta, z, _ = draw(seed, scale)
    np.testing.assert_array_equal(mft.forward(theta, mu, z).z, mft.forward(theta, mu, z).z)

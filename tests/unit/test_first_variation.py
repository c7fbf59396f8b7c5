"""Unit tests of chapter 2's first variation, probe head, exact Euler reversal and ablations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from tolerances import SAME_ALGEBRA_RTOL

import mftransformer as mft
from mftransformer.experiments.adjoint import instance, mixed_heads, task_targets
from mftransformer.solver.adjoint import cot_gradient, discrete_adjoint, risk
from mftransformer.solver.attention import dropped_parts, state_field, state_vjp
from mftransformer.solver.errors import ParameterError
from mftransformer.solver.first_variation import first_variation, probe_derivative
from mftransformer.solver.reversal import adjoint_flat_memory, invert_euler_step

RTOL = SAME_ALGEBRA_RTOL["float64"]


def _rel(g, ref):
    num = sum(
        float(jnp.sum((u - v) ** 2))
        for u, v in zip(jax.tree.leaves(g), jax.tree.leaves(ref), strict=True)
    )
    return float(np.sqrt(num / sum(float(jnp.sum(v**2)) for v in jax.tree.leaves(ref))))


@pytest.fixture(scope="module")
def setting():
    return instance(2, 5, 2, 8, 3, 0.8, key=jax.random.key(21))


def test_public_names_are_exported():
    for name in ("first_variation", "probe_derivative", "invert_euler_step", "adjoint_flat_memory"):
        assert name in mft.__all__


def test_gradient_of_first_variation_at_the_particles_is_the_cot_gradient(setting):
    theta, mu, xi, targets = setting
    out = discrete_adjoint(theta, mu, xi, targets, trace=True)
    for layer in (0, 3, theta.L - 1):
        z, lam = out.states[layer], out.lams[layer + 1]
        gA, gV = jax.grad(
            lambda A, V, z=z, lam=lam: jnp.sum(first_variation(A, V, z, lam, mu.loga)), (0, 1)
        )(theta.A[layer], theta.V[layer])
        err = _rel((gA, gV), (out.grad.A[layer], out.grad.V[layer]))
        assert err < RTOL, f"layer {layer}: {err:.2e}"


def test_first_variation_is_linear_in_V_and_vanishes_at_V_zero(setting):
    theta, mu, xi, targets = setting
    out = discrete_adjoint(theta, mu, xi, targets, trace=True)
    z, lam = out.states[2], out.lams[3]
    A, V = theta.A[2], theta.V[2]
    G = first_variation(A, V, z, lam, mu.loga)
    np.testing.assert_allclose(first_variation(A, 2.5 * V, z, lam, mu.loga), 2.5 * G, rtol=RTOL)
    np.testing.assert_array_equal(first_variation(A, 0 * V, z, lam, mu.loga), 0.0)


def test_first_variation_refuses_bad_shapes(setting, without_shape_hints):
    theta, mu, xi, targets = setting
    out = discrete_adjoint(theta, mu, xi, targets, trace=True)
    with pytest.raises(ParameterError, match="first_variation: A"):
        first_variation(theta.A[0, 0], theta.V[0, 0], out.states[0], out.lams[1], mu.loga)


def test_probe_derivative_matches_a_central_difference(setting):
    theta, mu, xi, targets = setting
    kA, kV = jax.random.split(jax.random.key(4))
    A, V = 0.8 * jax.random.normal(kA, (3, 2, 2)), 0.8 * jax.random.normal(kV, (3, 2, 2))
    layer, eps = 4, 1e-5
    pred = probe_derivative(theta, mu, xi, targets, layer=layer, A=A, V=V)
    fd = [
        (
            risk(mixed_heads(theta, layer, A[p], V[p], eps), mu, xi, targets)
            - risk(mixed_heads(theta, layer, A[p], V[p], -eps), mu, xi, targets)
        )
        / (2 * eps)
        for p in range(3)
    ]
    err = float(jnp.linalg.norm(jnp.asarray(fd) - pred) / jnp.linalg.norm(pred))
    assert err < mft.experiments.adjoint.CLAIMS["probe_identity"].band, err


def test_mixed_heads_at_zero_mass_is_the_network(setting):
    theta, mu, xi, targets = setting
    A, V = theta.A[0, 0], theta.V[0, 0]
    R0 = risk(theta, mu, xi, targets)
    R1 = risk(mixed_heads(theta, 2, A, V, 0.0), mu, xi, targets)
    assert abs(float(R1 - R0)) <= RTOL * abs(float(R0))


def test_probe_of_a_particle_itself_has_the_mean_removed(setting):
    theta, mu, xi, targets = setting
    layer = 1
    d = probe_derivative(theta, mu, xi, targets, layer=layer, A=theta.A[layer], V=theta.V[layer])
    assert abs(float(jnp.mean(d))) < 1e-15 * (1 + float(jnp.abs(d).max()))
    with pytest.raises(ParameterError, match="probe_derivative: layer = 8"):
        probe_derivative(theta, mu, xi, targets, layer=8, A=theta.A[0], V=theta.V[0])


def test_invert_euler_step_undoes_the_step(setting):
    theta, mu, xi, _ = setting
    z = jnp.concatenate([mu.x, xi[:, None]], axis=1)
    h = 1.0 / theta.L
    A, V = theta.A[0], theta.V[0]
    z_next = z + h * state_field(A, V, z, mu.loga, mu.n)
    back, res, it = invert_euler_step(A, V, z_next, mu.loga, h=h)
    assert float(jnp.abs(back - z).max()) < 1e-14 and float(res) <= 1e-14 and 1 < int(it) <= 50


def test_invert_euler_step_fails_loudly_when_it_cannot_converge(setting):
    theta, mu, xi, _ = setting
    z = jnp.concatenate([mu.x, xi[:, None]], axis=1)
    A, V = theta.A[0], 200.0 * theta.V[0]  # h Lip(Φ) far above one: no contraction
    z_next = z + state_field(A, V, z, mu.loga, mu.n)
    with pytest.raises(Exception, match="the Euler reversal did not converge"):
        jax.block_until_ready(invert_euler_step(A, V, z_next, mu.loga, h=1.0, max_iter=5)[0])


def test_flat_memory_adjoint_equals_the_stored_state_adjoint(setting):
    theta, mu, xi, targets = setting
    flat = adjoint_flat_memory(theta, mu, xi, targets)
    stored = discrete_adjoint(theta, mu, xi, targets)
    assert _rel(flat.grad, stored.grad) < 1e-12
    assert abs(float(flat.risk - stored.risk)) <= RTOL * abs(float(stored.risk))
    assert float(flat.reversal[0]) <= 1e-14 and flat.reversal.shape == (2,)
    ablated = adjoint_flat_memory(theta, mu, xi, targets, drop="query_to_token")
    ref = discrete_adjoint(theta, mu, xi, targets, drop="query_to_token")
    assert _rel(ablated.grad, ref.grad) < 1e-12


def test_flat_memory_adjoint_memory_does_not_grow_with_depth():
    sizes = []
    for L in (8, 64):
        args = instance(2, 4, 2, L, 2, 0.5, key=jax.random.key(0))
        compiled = jax.jit(lambda *a: adjoint_flat_memory(*a)).lower(*args).compile()
        sizes.append(compiled.memory_analysis().temp_size_in_bytes)
    assert sizes[1] <= 1.3 * sizes[0], sizes


def test_dropped_parts_normalises_and_refuses_unknown_parts():
    assert dropped_parts() == ()
    assert dropped_parts("query_to_token") == ("query_to_token",)
    both = ("token_to_token", "query_to_token")
    assert dropped_parts(both[::-1]) == both and dropped_parts(local_only=True) == both
    with pytest.raises(ParameterError, match="drop = 'token'.*allowed"):
        dropped_parts("token")


def test_ablations_on_the_three_tasks(setting):
    theta, mu, xi, targets = setting
    both = cot_gradient(theta, mu, xi, targets, method="exact", local_only=True)[1]
    same = cot_gradient(
        theta, mu, xi, targets, method="exact", drop=("token_to_token", "query_to_token")
    )[1]
    np.testing.assert_array_equal(both.A, same.A)
    # task T: the query's adjoint is zero, so the query→token part is exactly zero
    tT = task_targets(targets, "T")
    full_T = cot_gradient(theta, mu, xi, tT, method="exact")[1]
    no_q = cot_gradient(theta, mu, xi, tT, method="exact", drop="query_to_token")[1]
    assert _rel(no_q, full_T) == 0.0
    # task C: the tokens' adjoints are fed only through the query, so dropping that part is
    # dropping both
    tC = task_targets(targets, "C")
    no_q = cot_gradient(theta, mu, xi, tC, method="exact", drop="query_to_token")[1]
    none = cot_gradient(theta, mu, xi, tC, method="exact", local_only=True)[1]
    assert _rel(no_q, none) < RTOL
    # each single part is a genuine change on task T + C
    full = cot_gradient(theta, mu, xi, targets, method="exact")[1]
    for part in ("token_to_token", "query_to_token"):
        g = cot_gradient(theta, mu, xi, targets, method="exact", drop=part)[1]
        assert _rel(g, full) > 1e-3, part
    with pytest.raises(
        ParameterError, match="drop = \\('query_to_token',\\) with method = 'autodiff'"
    ):
        cot_gradient(theta, mu, xi, targets, drop="query_to_token")


def test_state_vjp_weights_match_the_flags(setting):
    theta, mu, xi, _ = setting
    z = jnp.concatenate([mu.x, xi[:, None]], axis=1)
    lam = jax.random.normal(jax.random.key(9), z.shape)
    A, V = theta.A[0], theta.V[0]
    full = state_vjp(A, V, z, mu.loga, mu.n, lam)
    ones = state_vjp(A, V, z, mu.loga, mu.n, lam, keep=jnp.ones(2))
    local = state_vjp(A, V, z, mu.loga, mu.n, lam, local_only=True)
    zeros = state_vjp(A, V, z, mu.loga, mu.n, lam, keep=jnp.zeros(2))
    np.testing.assert_allclose(ones[1], full[1], rtol=RTOL, atol=1e-15)
    np.testing.assert_allclose(zeros[1], local[1], rtol=RTOL, atol=1e-15)
    # the query part alone: the vjp with only the query's cotangent, minus its local term
    q_only = lam.at[:, : mu.n].set(0.0)
    ref = (
        state_vjp(A, V, z, mu.loga, mu.n, q_only)[1]
        - state_vjp(A, V, z, mu.loga, mu.n, q_only, local_only=True)[1]
    )
    no_token = state_vjp(A, V, z, mu.loga, mu.n, lam, keep=jnp.array([0.0, 1.0]))[1]
    np.testing.assert_allclose(no_token - local[1], ref, rtol=1e-10, atol=1e-14)

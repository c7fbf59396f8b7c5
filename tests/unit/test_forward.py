"""Unit tests of forward.py: shapes, schemes, the diffrax reference, the Gaussian closed form,
the support bound, the flow map and every error message."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from tolerances import (
    GAUSSIAN_VS_SAMPLES_ATOL,
    ODE_VS_RK4_ATOL,
    SAME_ALGEBRA_RTOL,
    SCAN_VS_DIFFRAX_SAME_STEP_ATOL,
    SUPPORT_BOUND_RTOL,
)

import mftransformer as mft
from mftransformer import tasks
from mftransformer.solver.errors import ParameterError, SolveFailed

RTOL = SAME_ALGEBRA_RTOL["float64"]


@pytest.fixture(scope="module")
def small():
    k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
    mu = mft.sample_gaussian(k1, 2, 5, 2)
    theta = tasks.generic_init(4, 3, 2, key=k2)
    smooth = tasks.smooth_heads(3, 2, key=k3)
    xi = jnp.array([[1.0, 0.0], [0.0, 1.0]])
    return mu, theta, smooth, xi


def test_forward_shapes_and_trace(small):
    mu, theta, _, xi = small
    out = mft.forward(theta, mu, xi, trace=True)
    assert out.z.shape == (2, 6, 2) and out.tokens.shape == (2, 5, 2)
    assert out.queries.shape == (2, 1, 2) and out.trajectory.shape == (5, 2, 6, 2)
    assert int(out.first_bad_layer) == -1
    np.testing.assert_allclose(out.trajectory[0, :, :5], mu.x, rtol=RTOL)
    np.testing.assert_allclose(out.trajectory[-1], out.z, rtol=RTOL)


def test_one_euler_layer_by_hand(small):
    mu, theta, _, xi = small
    one = mft.Heads(theta.A[:1], theta.V[:1])
    z0 = jnp.concatenate([mu.x, xi[:, None]], axis=1)
    expected = z0 + mft.field(one.A[0], one.V[0], mu, z0)
    np.testing.assert_allclose(mft.forward(one, mu, xi).z, expected, rtol=RTOL)


def test_silent_init_is_the_identity(small):
    mu, _, _, xi = small
    theta = tasks.silent_init(4, 4, 2, key=jax.random.key(3))
    np.testing.assert_allclose(mft.forward(theta, mu, xi).z[:, :5], mu.x, atol=1e-15)


def test_euler_scan_equals_diffrax_euler_at_same_step(small):
    mu, _, smooth, xi = small
    scan = mft.forward(smooth, mu, xi, L=16, scheme="euler").z
    ode = mft.forward_ode(smooth, mu, xi, solver="euler", L=16)
    np.testing.assert_allclose(scan, ode, atol=SCAN_VS_DIFFRAX_SAME_STEP_ATOL)
    heun = mft.forward(smooth, mu, xi, L=16, scheme="heun").z
    np.testing.assert_allclose(
        heun,
        mft.forward_ode(smooth, mu, xi, solver="heun", L=16),
        atol=SCAN_VS_DIFFRAX_SAME_STEP_ATOL,
    )


def test_rk4_agrees_with_adaptive_diffrax(small):
    mu, _, smooth, xi = small
    rk4 = mft.forward(smooth, mu, xi, L=512, scheme="rk4").z
    ode = mft.forward_ode(smooth, mu, xi)
    err = float(jnp.max(jnp.abs(rk4 - ode)))
    assert err < ODE_VS_RK4_ATOL, f"RK4 (L=512) vs Tsit5: {err:.2e}"


def test_layerwise_heun_uses_layer_heads_in_both_stages(small):
    mu, theta, _, xi = small
    # constant field within a layer: Heun's two stages see the same heads (MATH.md §2)
    one = mft.Heads(theta.A[:1], theta.V[:1])
    z0 = jnp.concatenate([mu.x, xi[:, None]], axis=1)
    from mftransformer.solver.attention import state_field

    k1 = state_field(one.A[0], one.V[0], z0, mu.loga, 5)
    k2 = state_field(one.A[0], one.V[0], z0 + k1, mu.loga, 5)
    np.testing.assert_allclose(
        mft.forward(one, mu, xi, scheme="heun").z, z0 + (k1 + k2) / 2, rtol=RTOL
    )


def test_gaussian_recursion_vs_many_sampled_tokens(small):
    _, theta, _, _ = small
    m, S, xi = jnp.array([0.5, -0.5]), jnp.array([[1.0, 0.2], [0.2, 0.6]]), jnp.array([1.0, 0.0])
    _, _, xi_exact = mft.gaussian_recursion(theta, m, S, xi)
    mu = mft.sample_gaussian(
        jax.random.key(7), 1, 4000, 2, mean=m, cov=S
    )  # n² memory: 4000 is 0.4 GB
    xi_sampled = mft.forward(theta, mu, xi[None]).queries[0, 0]
    err = float(jnp.linalg.norm(xi_sampled - xi_exact))
    assert err < GAUSSIAN_VS_SAMPLES_ATOL, f"|ξ sampled − ξ Gauss| = {err:.3e}"


def test_gaussian_ode_is_the_limit_of_the_recursion(small):
    _, _, smooth, _ = small
    m, S, xi = jnp.array([0.5, -0.5]), jnp.eye(2), jnp.array([1.0, 0.0])
    exact = mft.gaussian_ode(smooth, m, S, xi)
    errs = [
        float(jnp.linalg.norm(mft.gaussian_recursion(smooth.discretise(L), m, S, xi)[2] - exact[2]))
        for L in (64, 128)
    ]
    assert 1.8 < errs[0] / errs[1] < 2.2, f"Euler order on the Gaussian flow: ratio {errs}"


def test_support_bound_holds_at_every_layer(small):
    mu, theta, _, _ = small
    traj = mft.forward(theta, mu, trace=True).trajectory
    radius = jnp.max(jnp.linalg.norm(traj, axis=-1), axis=-1)
    for b in range(2):
        bound = mft.support_bound(theta, radius[0, b])
        assert bound.shape == (5,)
        assert np.all(np.asarray(radius[:, b]) <= np.asarray(bound) * (1 + SUPPORT_BOUND_RTOL))


def test_flow_map_matches_queries(small):
    mu, theta, _, _ = small
    y = jnp.zeros((2, 3, 2)).at[:, :, 0].set(jnp.array([-1.0, 0.0, 1.0]))
    path = mft.flow_map(theta, mu, y)
    assert path.shape == (5, 2, 3, 2)
    np.testing.assert_allclose(path[-1], mft.forward(theta, mu, y).queries, rtol=RTOL)
    # queries never act as keys: the tokens do not depend on them
    np.testing.assert_allclose(
        mft.forward(theta, mu, y).tokens, mft.forward(theta, mu).tokens, rtol=RTOL
    )


def test_nonfinite_states_name_the_layer(small):
    mu, theta, _, _ = small
    bad = mft.Heads(theta.A, theta.V.at[2].set(jnp.inf))
    with pytest.raises(SolveFailed, match="non-finite at layer 3"):
        mft.forward(bad, mu)
    assert int(mft.forward(bad, mu, throw=False).first_bad_layer) == 3


def test_bad_arguments(small, without_shape_hints):
    mu, theta, smooth, xi = small
    with pytest.raises(ParameterError, match="scheme = 'heunn'.*Did you mean 'heun'"):
        mft.forward(theta, mu, scheme="heunn")
    with pytest.raises(ParameterError, match="L = 3 but theta has 4 layers"):
        mft.forward(theta, mu, L=3)
    with pytest.raises(ParameterError, match="L = None with SmoothHeads"):
        mft.forward(smooth, mu)
    with pytest.raises(ParameterError, match="L = 0; allowed integer >= 1"):
        mft.forward(smooth, mu, L=0)
    with pytest.raises(
        ParameterError, match=r"heads have shape \(4, 3, 2, 2\) but mu.x has shape \(2, 5, 3\)"
    ):
        mft.forward(theta, mft.sample_gaussian(jax.random.key(1), 2, 5, 3))
    with pytest.raises(
        ParameterError, match=r"xi has shape \(3, 2\) but mu.x has shape \(2, 5, 2\)"
    ):
        mft.forward(theta, mu, jnp.zeros((3, 2)))
    with pytest.raises(ParameterError, match="theta is Heads; allowed SmoothHeads"):
        mft.forward_ode(theta, mu)
    with pytest.raises(ParameterError, match="solver = 'rk45'"):
        mft.forward_ode(smooth, mu, solver="rk45")
    with pytest.raises(
        ParameterError, match=r"A has shape \(1, 2, 2, 2\) and V has shape \(1, 2, 3, 3\)"
    ):
        mft.Heads(jnp.zeros((1, 2, 2, 2)), jnp.zeros((1, 2, 3, 3)))
    with pytest.raises(ParameterError, match=r"SmoothHeads: A0, A1, V0, V1 have shapes"):
        mft.SmoothHeads(*(jnp.zeros((2, 2, 2)),) * 3, jnp.zeros((2, 3, 3)))


def test_checkpoint_changes_memory_not_values(small):
    mu, theta, _, xi = small
    a = mft.forward(theta, mu, xi, scheme="heun", trace=True)
    b = mft.forward(theta, mu, xi, scheme="heun", trace=True, checkpoint=False)
    np.testing.assert_array_equal(a.trajectory, b.trajectory)

    def risk(th, checkpoint):
        return jnp.sum(mft.forward(th, mu, xi, checkpoint=checkpoint).z ** 2)

    g_on, g_off = (jax.grad(risk)(theta, c) for c in (True, False))
    np.testing.assert_allclose(g_on.A, g_off.A, rtol=RTOL, atol=1e-15)


def test_layer_step_is_one_layer_of_forward(small):
    from mftransformer.solver.forward import initial_state, layer_step

    mu, theta, _, xi = small
    z = initial_state(mu, xi)
    for l in range(theta.L):
        z = layer_step(theta, l, z, mu.loga, theta.L, mu.n, "rk4")
    np.testing.assert_allclose(z, mft.forward(theta, mu, xi, scheme="rk4").z, rtol=RTOL)


def test_forward_does_not_recompile_for_new_data(small):
    from mftransformer.solver import forward as fwd

    mu, theta, _, xi = small
    mft.forward(theta, mu, xi)
    size = fwd._forward_scan._cache_size()
    other = mft.sample_gaussian(jax.random.key(9), 2, 5, 2)
    mft.forward(tasks.generic_init(4, 3, 2, key=jax.random.key(8)), other, 2 * xi)
    assert fwd._forward_scan._cache_size() == size, "new data of equal shape must not recompile"

"""Unit tests of the adjoints: the field's VJP and head gradients, padding, errors (chapter 2)."""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from tolerances import SAME_ALGEBRA_RTOL

from mftransformer.experiments.adjoint import instance
from mftransformer.solver.adjoint import Targets, continuous_adjoint, cot_gradient, discrete_adjoint
from mftransformer.solver.attention import Heads, field, field_vjp, head_param_grad
from mftransformer.solver.errors import ParameterError, SolveFailed
from mftransformer.solver.measures import EmpiricalMeasure

RTOL = SAME_ALGEBRA_RTOL["float64"]


@pytest.fixture(scope="module")
def setting():
    return instance(2, 5, 2, 4, 3, 0.8, key=jax.random.key(3))


def _layer_inputs(key, B=2, n=5, k=3, d=2, M=3):
    ks = jax.random.split(key, 6)
    a = jax.random.dirichlet(ks[1], jnp.ones(n), (B,)).at[:, 0].set(0.0)
    mu = EmpiricalMeasure(jax.random.normal(ks[0], (B, n, d)), a / a.sum(1, keepdims=True))
    z, lam = jax.random.normal(ks[2], (B, k, d)), jax.random.normal(ks[3], (B, k, d))
    A, V = 0.8 * jax.random.normal(ks[4], (M, d, d)), 0.8 * jax.random.normal(ks[5], (M, d, d))
    return A, V, mu, z, lam


def test_field_vjp_matches_jax_vjp():
    A, V, mu, z, lam = _layer_inputs(jax.random.key(0))
    _, vjp = jax.vjp(lambda x, y: field(A, V, EmpiricalMeasure(x, mu.a), y), mu.x, z)
    gx, gz = vjp(lam)
    lz, lx = field_vjp(A, V, mu, z, lam)
    np.testing.assert_allclose(lz, gz, rtol=RTOL, atol=RTOL)
    np.testing.assert_allclose(lx, gx, rtol=RTOL, atol=RTOL)


def test_field_vjp_local_only_drops_the_key_term():
    A, V, mu, z, lam = _layer_inputs(jax.random.key(1))
    lz, lx = field_vjp(A, V, mu, z, lam, local_only=True)
    lz_full, _ = field_vjp(A, V, mu, z, lam)
    np.testing.assert_array_equal(lx, 0.0)
    np.testing.assert_allclose(lz, lz_full, rtol=RTOL)


def test_head_param_grad_matches_jax_grad():
    A, V, mu, z, lam = _layer_inputs(jax.random.key(2))

    def G(A_, V_):  # Σ_m Σ_k ⟨λ_k, Γ_{θ_m}(μ, z_k)⟩ = M ⟨λ, F⟩
        return A_.shape[0] * jnp.sum(lam * field(A_, V_, mu, z))

    gA, gV = jax.grad(G, (0, 1))(A, V)
    hA, hV = head_param_grad(A, V, mu, z, lam)
    np.testing.assert_allclose(hA, gA, rtol=RTOL, atol=RTOL)
    np.testing.assert_allclose(hV, gV, rtol=RTOL, atol=RTOL)


def test_lam_shape_errors():
    # unwrap the jaxtyping shape check of the test run, so the library's own message is tested
    A, V, mu, z, lam = _layer_inputs(jax.random.key(4))
    with pytest.raises(ParameterError, match=r"field_vjp: lam has shape \(2, 2, 2\)"):
        inspect.unwrap(field_vjp)(A, V, mu, z, lam[:, :2])
    with pytest.raises(ParameterError, match=r"head_param_grad: lam has shape \(2, 2, 2\)"):
        inspect.unwrap(head_param_grad)(A, V, mu, z, lam[:, :2])


def test_padded_token_keeps_zero_adjoint_and_does_not_change_gradient(setting):
    theta, mu, xi, targets = setting  # the last token has zero weight
    out = discrete_adjoint(theta, mu, xi, targets, trace=True)
    assert float(jnp.abs(out.lams[:, :, mu.n - 1]).max()) == 0.0
    moved = EmpiricalMeasure(mu.x.at[:, -1].add(3.0), mu.a)
    g2 = discrete_adjoint(theta, moved, xi, targets).grad
    np.testing.assert_array_equal(g2.A, out.grad.A)
    np.testing.assert_array_equal(g2.V, out.grad.V)


def test_cot_gradient_returns_heads_for_every_method(setting):
    theta, mu, xi, targets = setting
    for method in ("autodiff", "exact", "continuous"):
        R, g = cot_gradient(theta, mu, xi, targets, method=method)
        assert isinstance(g, Heads) and g.A.shape == theta.A.shape and R.shape == ()


def test_option_errors(setting):
    theta, mu, xi, targets = setting
    with pytest.raises(ParameterError, match="method = 'exakt'.*Did you mean 'exact'"):
        cot_gradient(theta, mu, xi, targets, method="exakt")
    with pytest.raises(ParameterError, match="local_only = True with method = 'autodiff'"):
        cot_gradient(theta, mu, xi, targets, local_only=True)
    with pytest.raises(ParameterError, match=r"discrete_adjoint\(scheme='rk4'\): scheme = 'rk4'"):
        cot_gradient(theta, mu, xi, targets, method="exact", scheme="rk4")
    smooth = instance(2, 5, 2, 1, 3, 0.8, key=jax.random.key(3), smooth=True)[0]
    with pytest.raises(ParameterError, match="theta is SmoothHeads; allowed layer-wise Heads"):
        discrete_adjoint(smooth, mu, xi, targets)
    with pytest.raises(ParameterError, match="L = None with SmoothHeads"):
        continuous_adjoint(smooth, mu, xi, targets)


def test_target_of_wrong_shape_is_named(setting):
    theta, mu, xi, targets = setting
    bad = Targets(T=targets.T[:, :-1])
    for method in ("exact", "continuous"):
        with pytest.raises(ParameterError, match=r"targets.T has shape \(2, 4, 2\) but mu.x"):
            cot_gradient(theta, mu, xi, bad, method=method)


@pytest.mark.parametrize("method", ["exact", "continuous"])
def test_nonfinite_terminal_adjoint_names_layer_L(setting, method):
    theta, mu, xi, targets = setting
    bad = Targets(T=targets.T.at[0, 0, 0].set(jnp.nan))
    with pytest.raises(SolveFailed, match=f"adjoint lam became non-finite at layer {theta.L}"):
        cot_gradient(theta, mu, xi, bad, method=method)


@pytest.mark.parametrize("method", ["exact", "continuous"])
def test_overflow_in_backward_sweep_names_quantity_and_layer(method):
    theta, mu, xi, targets = instance(2, 5, 2, 8, 3, 0.8, key=jax.random.key(5))
    theta = Heads(theta.A, 40.0 * theta.V)
    forward_ok = Targets(T=jnp.full_like(targets.T, 1e307))  # finite states, huge cotangent
    with pytest.raises(
        SolveFailed,
        match=r"adjoint lam became non-finite at layer [0-7]\.|"
        r"COT gradient became non-finite at layer [0-7]\.",
    ):
        cot_gradient(theta, mu, None, forward_ok, method=method)


def test_nonfinite_states_name_the_layer(setting):
    theta, mu, xi, targets = setting
    theta = Heads(theta.A.at[1].set(jnp.inf), theta.V)
    with pytest.raises(SolveFailed, match="token states became non-finite at layer 2"):
        cot_gradient(theta, mu, xi, targets, method="exact")


def test_nonfinite_inside_jit_stops_with_a_message(setting):
    theta, mu, xi, targets = setting
    bad = Targets(T=targets.T.at[0, 0, 0].set(jnp.nan))
    f = jax.jit(lambda th: cot_gradient(th, mu, xi, bad, method="continuous"))
    with pytest.raises(Exception, match="adjoint lam or COT gradient became non-finite"):
        jax.block_until_ready(f(theta))


@pytest.mark.parametrize("method", ["exact", "continuous", "autodiff"])
def test_throw_false_returns_the_status(setting, method):
    theta, mu, xi, targets = setting
    theta = Heads(theta.A.at[1].set(jnp.inf), theta.V)
    R, g = cot_gradient(theta, mu, xi, targets, method=method, throw=False)
    assert not np.isfinite(float(R))
    if method == "exact":  # the status names the layer: states (layer 2), adjoint, gradient
        out = discrete_adjoint(theta, mu, xi, targets, throw=False)
        assert int(out.first_bad_layer[0]) == 2


def test_layer_field_methods_share_one_kernel(setting):
    from mftransformer.solver.attention import LayerField

    theta, mu, xi, _ = setting
    field_ = LayerField(theta.A[0], theta.V[0])
    x, loga, z = mu.x[0], mu.loga[0], mu.x[0][:3] + 0.1
    lam = jnp.ones_like(z)
    out = field_.vjp(x, loga, z, lam)
    np.testing.assert_array_equal(out.phi, field_.apply(x, loga, z))
    gA, gV = field_.param_grad(x, loga, z, lam)
    np.testing.assert_array_equal(gA, out.gA)
    np.testing.assert_array_equal(gV, out.gV)
    # the parameter gradient is the gradient of G(θ) = Σ_k ⟨λ_k, Γ_θ(μ, z_k)⟩, head by head
    M = theta.M
    G = lambda A, V: M * jnp.sum(lam * LayerField(A, V).apply(x, loga, z))  # noqa: E731
    rA, rV = jax.grad(G, argnums=(0, 1))(theta.A[0], theta.V[0])
    np.testing.assert_allclose(gA, rA, rtol=RTOL, atol=1e-14)
    np.testing.assert_allclose(gV, rV, rtol=RTOL, atol=1e-14)

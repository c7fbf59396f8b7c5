"""Independent methods agree on the COT gradient: exact adjoint, jax.grad, finite differences."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from tolerances import (
    ADJOINT_VS_AUTODIFF_RTOL,
    FD_ERROR_MAX,
    FD_RATIO_BAND,
    INTERACTION_MIN,
)

from mftransformer.experiments.adjoint import instance
from mftransformer.solver.adjoint import cot_gradient, risk
from mftransformer.solver.attention import Heads, meanfield_scale

RTOL = ADJOINT_VS_AUTODIFF_RTOL["float64"]


def _rel(g, ref):
    num = sum(
        float(jnp.sum((u - v) ** 2))
        for u, v in zip(jax.tree.leaves(g), jax.tree.leaves(ref), strict=True)
    )
    return float(np.sqrt(num / sum(float(jnp.sum(v**2)) for v in jax.tree.leaves(ref))))


@pytest.fixture(scope="module", params=[0, 1])
def setting(request):  # MATH.md §3.3: d = 2, n = 7 (one padding token), N = 3, L = 6, M = 4
    return instance(2, 7, 3, 6, 4, 0.8, key=jax.random.key(100 + request.param))


@pytest.mark.parametrize("scheme", ["euler", "heun"])
def test_exact_adjoint_equals_jax_grad(setting, scheme):
    theta, mu, xi, targets = setting
    R0, g0 = cot_gradient(theta, mu, xi, targets, method="autodiff", scheme=scheme)
    R1, g1 = cot_gradient(theta, mu, xi, targets, method="exact", scheme=scheme)
    err = _rel(g1, g0)
    assert err < RTOL, f"exact adjoint ({scheme}) vs jax.grad: relative error {err:.2e}"
    assert abs(float(R1 - R0)) <= RTOL * abs(float(R0))


def test_central_differences_follow_eps_squared(setting):
    theta, mu, xi, targets = setting
    _, g = cot_gradient(theta, mu, xi, targets, method="exact")
    kA, kV = jax.random.split(jax.random.key(7))
    D = Heads(jax.random.normal(kA, theta.A.shape), jax.random.normal(kV, theta.V.shape))
    R = jax.jit(lambda th: risk(th, mu, xi, targets))
    scale = 1.0 / meanfield_scale(theta)  # the COT inner product: each particle has mass 1/(LM)
    dot = scale * sum(
        float(jnp.vdot(u, v)) for u, v in zip(jax.tree.leaves(g), jax.tree.leaves(D), strict=True)
    )
    norm = (
        scale
        * np.sqrt(sum(float(jnp.sum(v**2)) for v in jax.tree.leaves(g)))
        * np.sqrt(sum(float(jnp.sum(v**2)) for v in jax.tree.leaves(D)))
    )
    errors = []
    for eps in (1e-3, 1e-4):
        plus = jax.tree.map(lambda t, v, e=eps: t + e * v, theta, D)
        minus = jax.tree.map(lambda t, v, e=eps: t - e * v, theta, D)
        errors.append(abs(float(R(plus) - R(minus)) / (2 * eps) - dot) / norm)
    ratio = errors[0] / errors[1]
    assert FD_RATIO_BAND[0] <= ratio <= FD_RATIO_BAND[1], (
        f"FD error ratio {ratio:.1f}, errors {errors}"
    )
    assert errors[1] < FD_ERROR_MAX, f"FD error at 1e-4: {errors[1]:.2e}"


def test_interaction_term_is_needed(setting):
    theta, mu, xi, targets = setting
    _, g_auto = cot_gradient(theta, mu, xi, targets, method="autodiff")
    _, g_local = cot_gradient(theta, mu, xi, targets, method="exact", local_only=True)
    _, g_full = cot_gradient(theta, mu, xi, targets, method="exact")
    err_local, err_full = _rel(g_local, g_auto), _rel(g_full, g_auto)
    assert err_full < RTOL, f"full adjoint: {err_full:.2e}"
    assert err_local > INTERACTION_MIN, f"frozen-context adjoint only {err_local:.3f} off"

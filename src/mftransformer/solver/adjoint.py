"""The risk R and its conditional Wasserstein (COT) gradient at the head particles.

Model page, "Readouts" and "Adjoint" (MATH.md §1.5, §3). Task T compares the final tokens with
targets ``T``; task C reads the query out linearly, ``Y_i = W X^i_1(ξ^i_0)``:

.. math::

    R = \\frac1N \\sum_i \\tfrac12 \\sum_k a^i_k |X^i_1(x^i_k) - T^i_k|^2
        + \\frac1{2N} \\sum_i |W X^i_1(\\xi^i_0) - y_i|^2 .

The COT gradient at the particles is ``∇_θ δR/δν (s_ℓ, θ_{ℓm}) = L M ∇_{θ_{ℓm}} R^{L,M}``.
Three ways compute it (``cot_gradient(method=...)``): ``jax.grad`` through the checkpointed scan
(``"autodiff"``); the discrete adjoint of the scheme, exact to round-off, storing only the token
states (``"exact"``, §3.3); and the continuous adjoint ODE integrated backwards together with the
state, memory independent of depth, accurate to the scheme's order (``"continuous"``, §3.2).
``local_only=True`` drops the interaction term (the frozen-context ablation: not a gradient).
"""

from functools import partial

import equinox as eqx
import jax
import jax.numpy as jnp

from .attention import Heads, SmoothHeads, _adjoint_kernel, _field
from .errors import ParameterError, first_nonfinite, is_traced, nonfinite_guard, suggest
from .forward import SCHEMES, _check_forward_args, _forward_scan, _initial_state, _layer, forward
from .measures import EmpiricalMeasure
from .types import Array, Float

__all__ = [
    "Targets",
    "risk",
    "cot_gradient",
    "GRADIENT_METHODS",
    "AdjointResult",
    "discrete_adjoint",
    "continuous_adjoint",
]

GRADIENT_METHODS = ("autodiff", "exact", "continuous")
_EXACT_SCHEMES = ("euler", "heun")


class Targets(eqx.Module):
    """Targets of the risk: token targets ``T`` (task T) and/or a readout ``W`` with labels ``y``
    (task C). Either part may be None.

    Args:
        T: ``(B, n, d)`` token targets.
        W: ``(d_out, d)`` fixed linear readout of the query.
        y: ``(B, d_out)`` labels.
    """

    T: Float[Array, "B n d"] | None = None
    W: Float[Array, "d_out d"] | None = None
    y: Float[Array, "B d_out"] | None = None

    def __check_init__(self):
        if (self.W is None) != (self.y is None):
            raise ParameterError("Targets: W and y must be given together (task C); got only one.")
        if self.T is None and self.W is None:
            raise ParameterError("Targets: neither T nor (W, y) given; allowed at least one task.")


def risk(
    theta: Heads,
    mu: EmpiricalMeasure,
    xi: Float[Array, "B d"] | None,
    targets: Targets,
    *,
    scheme: str = "euler",
) -> Float[Array, ""]:
    """The empirical risk ``R(ν)`` of the depth-L network (Model: eq. (risk)).

    Raises:
        ParameterError: targets whose shapes do not match the inputs (both shapes named).
    """
    _check_targets(mu, xi, targets)
    result = forward(theta, mu, xi, scheme=scheme)
    return _risk_from_states(result.tokens, result.queries, mu, targets)


def cot_gradient(
    theta: Heads | SmoothHeads,
    mu: EmpiricalMeasure,
    xi: Float[Array, "B d"] | None,
    targets: Targets,
    *,
    method: str = "autodiff",
    scheme: str = "euler",
    L: int | None = None,
    local_only: bool = False,
) -> tuple[Float[Array, ""], Heads]:
    """Risk and COT gradient at the particles, ``(R, L M ∇_θ R)``, the gradient as :class:`Heads`.

    .. math::

        \\mathrm{grad}_{\\rm COT} R\\,(s_\\ell, \\theta_{\\ell m}) = L M\\, \\nabla_{\\theta_{\\ell m}} R^{L,M}
          = \\nabla_\\theta \\frac{\\delta R}{\\delta\\nu}(s_\\ell, \\theta_{\\ell m})

    Args:
        method: ``"autodiff"`` (``jax.grad`` through the checkpointed scan), ``"exact"``
            (:func:`discrete_adjoint`, the same numbers to round-off) or ``"continuous"``
            (:func:`continuous_adjoint`, flat memory, accurate to the scheme's order).
        scheme: forward scheme (``"euler"``, ``"heun"``; ``"rk4"`` for ``"continuous"``).
        L: depth steps, for :class:`SmoothHeads` with ``"continuous"``.
        local_only: frozen-context ablation (``"exact"``, ``"continuous"`` only; not a gradient).

    Raises:
        ParameterError: unknown method, bad shapes or options.
        SolveFailed: non-finite states, adjoint or gradient (``"exact"``, ``"continuous"``).
    """
    if method not in GRADIENT_METHODS:
        raise ParameterError(
            f"cot_gradient: method = {method!r}; allowed {list(GRADIENT_METHODS)}."
            f"{suggest(method, GRADIENT_METHODS)}"
        )
    if method == "exact":
        out = discrete_adjoint(theta, mu, xi, targets, scheme=scheme, local_only=local_only)
        return out.risk, out.grad
    if method == "continuous":
        out = continuous_adjoint(theta, mu, xi, targets, L=L, scheme=scheme, local_only=local_only)
        return out.risk, out.grad
    if local_only:
        raise ParameterError(
            "cot_gradient: local_only = True with method = 'autodiff'; allowed with 'exact' or "
            "'continuous' (jax.grad always includes the interaction term)."
        )
    _check_targets(mu, xi, targets)
    R, g = _risk_and_grad(theta, mu, xi, targets, scheme)
    scale = theta.L * theta.M
    return R, jax.tree_util.tree_map(lambda v: scale * v, g)


# ---------------------------------------------------------------- adjoints (chapter 2)
class AdjointResult(eqx.Module):
    """Output of :func:`discrete_adjoint` and :func:`continuous_adjoint`.

    Attributes:
        risk: ``R`` of the forward pass used.
        grad: COT gradient at the particles ``∇_θ δR/δν (s_ℓ, θ_{ℓm})``, as :class:`Heads`.
        lam: the mass-weighted adjoint at depth 0, ``(B, n + k, d)``.
        states, lams: ``z`` and ``λ`` at depths ``s_ℓ``, ``(L + 1, B, n + k, d)`` if ``trace``.
    """

    risk: Float[Array, ""]
    grad: Heads
    lam: Float[Array, "B nk d"]
    states: Float[Array, "L1 B nk d"] | None
    lams: Float[Array, "L1 B nk d"] | None


def discrete_adjoint(
    theta: Heads | SmoothHeads,
    mu: EmpiricalMeasure,
    xi: Float[Array, "B d"] | None,
    targets: Targets,
    *,
    scheme: str = "euler",
    local_only: bool = False,
    trace: bool = False,
) -> AdjointResult:
    """Exact gradient of the depth-L network by its discrete adjoint (MATH.md §3.3).

    The forward sweep stores the states ``z^ℓ`` only; the backward sweep recomputes each layer's
    attention. Euler, from ``λ^L = ∇_{z^L} R`` (``λ_k = a_k(z^L_k − T_k)/N``, ``λ_ξ = Wᵀr/N``):

    .. math::

        \\lambda^\\ell = \\lambda^{\\ell+1} + h\\, D\\Phi_\\ell(z^\\ell)^\\top\\lambda^{\\ell+1},\\qquad
        LM\\,\\nabla_{\\theta_{\\ell m}} R = \\nabla_\\theta G_\\ell(\\theta_{\\ell m}),\\quad
        G_\\ell(\\theta) = \\sum_k \\langle \\lambda^{\\ell+1}_k, \\Gamma_\\theta(\\mu^\\ell, z^\\ell_k)\\rangle .

    Heun (layer ℓ's heads in both stages): with ``y = z^ℓ + hΦ_ℓ(z^ℓ)``,
    ``λ_y = (h/2) DΦ_ℓ(y)ᵀλ^{ℓ+1}`` and ``λ^ℓ = λ^{ℓ+1} + λ_y + h DΦ_ℓ(z^ℓ)ᵀ(λ^{ℓ+1}/2 + λ_y)``.

    Model: eq. (adjoint-discrete).

    Args:
        theta: layer-wise heads ``(L, M, d, d)`` (SmoothHeads are refused with a hint).
        mu, xi, targets: as in :func:`risk`.
        scheme: ``"euler"`` or ``"heun"``.
        local_only: drop the interaction term of ``DΦᵀ`` (the frozen-context ablation; the
            result is then not a gradient).
        trace: also return ``z^ℓ`` and ``λ^ℓ`` for ``ℓ = 0..L``.

    Raises:
        ParameterError: bad shapes, scheme or heads.
        SolveFailed: non-finite token states, adjoint or gradient (names the quantity and layer).
    """
    where = f"discrete_adjoint(scheme={scheme!r})"
    if not isinstance(theta, Heads):
        raise ParameterError(
            f"{where}: theta is {type(theta).__name__}; allowed layer-wise Heads (use "
            "theta.discretise(L), or continuous_adjoint for smooth heads)."
        )
    if scheme not in _EXACT_SCHEMES:
        raise ParameterError(
            f"{where}: scheme = {scheme!r}; allowed {list(_EXACT_SCHEMES)}."
            f"{suggest(scheme, _EXACT_SCHEMES)}"
        )
    _check_forward_args(theta, mu, None, scheme)
    _check_targets(mu, xi, targets)
    z0 = _initial_state(mu, xi)
    out = _exact_core(
        theta, z0, mu, targets, n=mu.n, scheme=scheme, local_only=local_only, trace=trace
    )
    return _finish(out, where)


def continuous_adjoint(
    theta: Heads | SmoothHeads,
    mu: EmpiricalMeasure,
    xi: Float[Array, "B d"] | None,
    targets: Targets,
    *,
    L: int | None = None,
    scheme: str = "euler",
    local_only: bool = False,
    trace: bool = False,
) -> AdjointResult:
    """COT gradient from the continuous adjoint ODE, integrated backwards with the state (§3.2).

    The forward pass keeps only ``z(1)``; the pair ``(z, λ)`` then solves, from ``s = 1`` to 0,

    .. math::

        \\dot z = \\Phi_s(z),\\qquad -\\dot\\lambda = D\\Phi_s(z)^\\top\\lambda,\\qquad
        \\nabla_\\theta\\frac{\\delta R}{\\delta\\nu}(s_\\ell,\\theta)
          = \\nabla_\\theta \\sum_k\\langle\\lambda_k(s_\\ell), \\Gamma_\\theta(\\mu_{s_\\ell}, z_k(s_\\ell))\\rangle ,

    with ``L`` steps of the explicit scheme, no stored trajectory (memory independent of ``L``).
    ``DΦᵀλ`` holds the local term and the interaction (non-local) term of the Transformer PDE.
    The reversed state is only as accurate as the scheme, so the gradient converges to the
    continuous-depth COT gradient at the scheme's order (smooth heads); it is *not* the exact
    gradient of the network (use :func:`discrete_adjoint`).

    Args:
        theta: :class:`SmoothHeads` (needs ``L``) or layer-wise :class:`Heads`.
        L: number of depth steps (``theta.L`` for Heads).
        scheme: ``"euler"``, ``"heun"`` or ``"rk4"``, forward and backward.
        local_only: drop the interaction term (ablation).
        trace: also return ``z(s_ℓ)`` and ``λ(s_ℓ)`` (this stores the trajectory).

    Raises:
        ParameterError: bad shapes, scheme or ``L``.
        SolveFailed: non-finite token states, adjoint or gradient (names the quantity and layer).
    """
    where = f"continuous_adjoint(scheme={scheme!r})"
    L = _check_forward_args(theta, mu, L, scheme)
    _check_targets(mu, xi, targets)
    z0 = _initial_state(mu, xi)
    out = _continuous_core(
        theta, z0, mu, targets, L=L, n=mu.n, scheme=scheme, local_only=local_only, trace=trace
    )
    return _finish(out, where)


# ---------------------------------------------------------------- private
def _risk_from_states(tokens, queries, mu, targets):
    N = mu.B
    R = jnp.zeros((), tokens.dtype)
    if targets.T is not None:
        R = R + 0.5 * jnp.sum(mu.a * jnp.sum((tokens - targets.T) ** 2, axis=-1)) / N
    if targets.W is not None:
        r = queries[:, 0] @ targets.W.T - targets.y
        R = R + 0.5 * jnp.sum(r**2) / N
    return R


@eqx.filter_jit
def _risk_and_grad(theta, mu, xi, targets, scheme):
    def R(th):
        result = forward(th, mu, xi, scheme=scheme)
        return _risk_from_states(result.tokens, result.queries, mu, targets)

    return jax.value_and_grad(R)(theta)


def _check_targets(mu, xi, targets):
    if targets.T is not None and targets.T.shape != mu.x.shape:
        raise ParameterError(
            f"risk: targets.T has shape {tuple(targets.T.shape)} but mu.x has shape "
            f"{tuple(mu.x.shape)}; allowed equal shapes."
        )
    if targets.W is not None:
        if xi is None:
            raise ParameterError("risk: task C (W, y) needs queries xi; got xi = None.")
        if targets.W.ndim != 2 or targets.W.shape[1] != mu.d:
            raise ParameterError(
                f"risk: targets.W has shape {tuple(targets.W.shape)}; allowed (d_out, {mu.d})."
            )
        if targets.y.shape != (mu.B, targets.W.shape[0]):
            raise ParameterError(
                f"risk: targets.y has shape {tuple(targets.y.shape)}; allowed "
                f"({mu.B}, {targets.W.shape[0]}) = (B, d_out)."
            )


def _terminal(z, mu, targets):
    """``R`` as a function of the final states (atoms then queries)."""
    return _risk_from_states(z[:, : mu.n], z[:, mu.n :], mu, targets)


def _kernel(A, V, z, loga, lam, n, local_only):
    """Batched :func:`_adjoint_kernel`: field, ``DΦᵀλ`` on the state, per-head gradients."""
    phi, lam_z, lam_x, gA, gV = jax.vmap(_adjoint_kernel, (None, None, 0, 0, 0, 0, None))(
        A, V, z[:, :n], loga, z, lam, local_only
    )
    return phi, lam_z.at[:, :n].add(lam_x), gA.sum(0), gV.sum(0)


def _finite_flag(bad, index, *arrays):
    return first_nonfinite(bad, index, jnp.concatenate([jnp.ravel(a) for a in arrays]))


@partial(jax.jit, static_argnames=("n", "scheme", "local_only", "trace"))
def _exact_core(theta, z0, mu, targets, *, n, scheme, local_only, trace):
    L, loga = theta.L, mu.loga
    h = 1.0 / L

    def forward_layer(carry, l):
        z, bad = carry
        z_next = _layer(theta, l, z, loga, L, n, scheme)
        return (z_next, first_nonfinite(bad, l + 1, z_next)), z  # stores z^ℓ only

    (zL, bad_z), zs = jax.lax.scan(forward_layer, (z0, jnp.array(-1)), jnp.arange(L))
    R, lamL = jax.value_and_grad(_terminal)(zL, mu, targets)

    def backward_layer(carry, inputs):
        lam_next, bad_lam, bad_g = carry
        l, z = inputs
        A, V = theta.A[l], theta.V[l]
        if scheme == "euler":
            _, vjp, gA, gV = _kernel(A, V, z, loga, lam_next, n, local_only)
            lam = lam_next + h * vjp
        else:  # heun, layer ℓ's heads in both stages
            y = z + h * jax.vmap(_field, (None, None, 0, 0, 0))(A, V, z[:, :n], loga, z)
            _, vjp_y, gA1, gV1 = _kernel(A, V, y, loga, lam_next, n, local_only)
            lam_y = 0.5 * h * vjp_y
            _, vjp_z, gA2, gV2 = _kernel(A, V, z, loga, 0.5 * lam_next + lam_y, n, local_only)
            lam = lam_next + lam_y + h * vjp_z
            gA, gV = 0.5 * gA1 + gA2, 0.5 * gV1 + gV2
        bad_lam = first_nonfinite(bad_lam, l, lam)
        bad_g = _finite_flag(bad_g, l, gA, gV)
        return (lam, bad_lam, bad_g), (gA, gV, lam if trace else None)

    bad_L = first_nonfinite(jnp.array(-1), L, lamL)
    (lam0, bad_lam, bad_g), (gA, gV, lams) = jax.lax.scan(
        backward_layer, (lamL, bad_L, jnp.array(-1)), (jnp.arange(L), zs), reverse=True
    )
    states = jnp.concatenate([zs, zL[None]]) if trace else None
    lams = jnp.concatenate([lams, lamL[None]]) if trace else None
    return R, Heads(gA, gV), lam0, states, lams, (bad_z, bad_lam, bad_g)


@partial(jax.jit, static_argnames=("L", "n", "scheme", "local_only", "trace"))
def _continuous_core(theta, z0, mu, targets, *, L, n, scheme, local_only, trace):
    loga, h = mu.loga, 1.0 / L
    c, a, b = SCHEMES[scheme]
    z1, bad_z, _ = _forward_scan(theta, z0, loga, L=L, n=n, scheme=scheme, trace=False)
    R, lam1 = jax.value_and_grad(_terminal)(z1, mu, targets)

    def backward_step(carry, l):
        # one explicit RK step of (ż, λ̇) = (Φ_s(z), −DΦ_s(z)ᵀλ) from s_{ℓ+1} down to s_ℓ
        z, lam, bad_lam, bad_g = carry
        kz, kl = [], []
        for i in range(len(c)):
            zi, li = z, lam
            for aij, kzj, klj in zip(a[i], kz, kl, strict=True):
                if aij != 0.0:
                    zi, li = zi - h * aij * kzj, li + h * aij * klj
            A, V = theta.layer(l, 1.0 - c[i], L)
            phi, vjp, _, _ = _kernel(A, V, zi, loga, li, n, local_only)
            kz.append(phi)
            kl.append(vjp)
        z = z - h * sum(bi * k for bi, k in zip(b, kz, strict=True))
        lam = lam + h * sum(bi * k for bi, k in zip(b, kl, strict=True))
        A, V = theta.layer(l, 0.0, L)
        _, _, gA, gV = _kernel(A, V, z, loga, lam, n, True)
        bad_lam = first_nonfinite(bad_lam, l, lam)
        bad_g = _finite_flag(bad_g, l, gA, gV)
        return (z, lam, bad_lam, bad_g), (gA, gV, z if trace else None, lam if trace else None)

    bad_L = first_nonfinite(jnp.array(-1), L, lam1)
    (_, lam0, bad_lam, bad_g), (gA, gV, zs, lams) = jax.lax.scan(
        backward_step, (z1, lam1, bad_L, jnp.array(-1)), jnp.arange(L), reverse=True
    )
    states = jnp.concatenate([zs, z1[None]]) if trace else None
    lams = jnp.concatenate([lams, lam1[None]]) if trace else None
    return R, Heads(gA, gV), lam0, states, lams, (bad_z, bad_lam, bad_g)


def _finish(out, where):
    R, grad, lam0, states, lams, (bad_z, bad_lam, bad_g) = out
    if is_traced(bad_z):
        # Inside an outer jit, guard the scalar risk only: an error_if on the gradient made XLA
        # copy the whole (L, M, d, d) output, so the flat-memory mode grew with L (measured).
        bad = jnp.maximum(jnp.maximum(bad_z, bad_lam), bad_g) >= 0
        R = eqx.error_if(
            R,
            bad,
            f"{where}: token states, adjoint lam or COT gradient became "
            "non-finite (call outside jit to get the quantity and layer)",
        )
        return AdjointResult(risk=R, grad=grad, lam=lam0, states=states, lams=lams)
    R = nonfinite_guard(R, bad_z, f"{where}: token states")
    lam0 = nonfinite_guard(lam0, bad_lam, f"{where}: adjoint lam")
    grad = nonfinite_guard(grad, bad_g, f"{where}: COT gradient")
    return AdjointResult(risk=R, grad=grad, lam=lam0, states=states, lams=lams)

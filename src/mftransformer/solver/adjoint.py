r"""The risk :math:`R` and its conditional Wasserstein (COT) gradient at the head particles.

Model page, "Readouts" and "Adjoint". Task T compares the final tokens with
targets :math:`T`; task C reads the query out linearly, :math:`Y_i = W X^i_1(\xi^i_0)`:

.. math::

    R = \frac1N \sum_i \tfrac12 \sum_k a^i_k |X^i_1(x^i_k) - T^i_k|^2
        + \frac1{2N} \sum_i |W X^i_1(\xi^i_0) - y_i|^2 .

The COT gradient at the particles is :math:`\nabla_\theta \frac{\delta R}{\delta\nu}(s_\ell,
\theta_{\ell m}) = L M\, \nabla_{\theta_{\ell m}} R^{L,M}`.
Three ways compute it (``cot_gradient(method=...)``): ``jax.grad`` through the checkpointed scan
(``"autodiff"``); the discrete adjoint of the scheme, exact to round-off, storing only the token
states (``"exact"``); and the continuous adjoint ODE integrated backwards together with the
state, memory independent of depth, accurate to the scheme's order (``"continuous"``).
``drop`` removes parts of the interaction term (``"token_to_token"``, ``"query_to_token"``;
``local_only=True`` drops both, the frozen-context ablation): the result is then not a gradient.
The first variation away from the particles is in :mod:`.first_variation`; the exact gradient
with memory flat in depth, by Euler reversal, in :mod:`.reversal`.
The risk itself is in :mod:`.risk` (re-exported here); ``chunk`` and ``mesh`` choose the attention
kernel (:mod:`.streaming`) and the devices (:mod:`.sharding`) for every method.
"""

from functools import partial

import equinox as eqx
import jax
import jax.numpy as jnp

from .attention import (
    INTERACTION_PARTS,
    Heads,
    SmoothHeads,
    dropped_parts,
    interaction_weights,
    meanfield_scale,
    state_field,
    state_vjp,
)
from .errors import ParameterError, check_choice, first_nonfinite, is_traced, nonfinite_guard
from .forward import forward, forward_depth
from .measures import EmpiricalMeasure
from .risk import Targets, check_targets, risk, terminal_risk
from .schemes import SCHEMES
from .sharding import place, resolve_mesh
from .streaming import resolve_chunk
from .types import Array, Float, Int
from .validate import check_forward_inputs

__all__ = [
    "Targets",
    "risk",
    "terminal_risk",
    "cot_gradient",
    "GRADIENT_METHODS",
    "AdjointResult",
    "discrete_adjoint",
    "continuous_adjoint",
    "INTERACTION_PARTS",
    "place_inputs",
    "finish_adjoint",
]

GRADIENT_METHODS = ("autodiff", "exact", "continuous")
_EXACT_SCHEMES = ("euler", "heun")


def cot_gradient(
    theta: Heads | SmoothHeads,
    mu: EmpiricalMeasure,
    xi: Float[Array, "B d"] | None,
    targets: Targets,
    *,
    method: str = "autodiff",
    scheme: str = "euler",
    L: int | None = None,
    drop: str | tuple[str, ...] = (),
    local_only: bool = False,
    throw: bool = True,
    chunk: int | None = None,
    mesh=None,
) -> tuple[Float[Array, ""], Heads]:
    r"""Risk and COT gradient at the particles, :math:`(R, L M\, \nabla_\theta R)`, the gradient as
    :class:`Heads`.

    .. math::

        \mathrm{grad}_{\rm COT} R\,(s_\ell, \theta_{\ell m})
          = L M\, \nabla_{\theta_{\ell m}} R^{L,M}
          = \nabla_\theta \frac{\delta R}{\delta\nu}(s_\ell, \theta_{\ell m})

    Args:
        method: ``"autodiff"`` (``jax.grad`` through the checkpointed scan), ``"exact"``
            (:func:`discrete_adjoint`, the same numbers to round-off) or ``"continuous"``
            (:func:`continuous_adjoint`, flat memory, accurate to the scheme's order).
        scheme: forward scheme (``"euler"``, ``"heun"``; ``"rk4"`` for ``"continuous"``).
        L: depth steps, for :class:`SmoothHeads` with ``"continuous"``.
        drop: parts of the interaction term to drop, ``"token_to_token"`` and/or
            ``"query_to_token"`` (ablations; ``"exact"``, ``"continuous"`` only; not a gradient).
        local_only: drop both parts (the frozen-context ablation).
        throw: raise if the states, adjoint or gradient become non-finite; with False they are
            returned as they are (a training scan reads its own first non-finite step).
        chunk, mesh: the attention kernel and the devices, as in
            :func:`~mftransformer.solver.forward.forward` (every method streams and shards).

    Raises:
        ParameterError: unknown method, bad shapes or options, a bad ``chunk`` or mesh.
        SolveFailed: non-finite states, adjoint or gradient (names the quantity and layer).
    """
    check_choice("cot_gradient", "method", method, GRADIENT_METHODS)
    xi = check_forward_inputs("cot_gradient", theta, mu, xi)
    drop = dropped_parts(drop, local_only, "cot_gradient")
    options = {"scheme": scheme, "drop": drop, "throw": throw, "chunk": chunk, "mesh": mesh}
    if method == "exact":
        out = discrete_adjoint(theta, mu, xi, targets, **options)
        return out.risk, out.grad
    if method == "continuous":
        out = continuous_adjoint(theta, mu, xi, targets, L=L, **options)
        return out.risk, out.grad
    if drop:
        what = "local_only = True" if local_only else f"drop = {drop}"
        raise ParameterError(
            f"cot_gradient: {what} with method = 'autodiff'; allowed with 'exact' or "
            "'continuous' (jax.grad always includes the whole interaction term)."
        )
    check_targets(mu, xi, targets)
    theta, mu, xi, chunk, mesh = place_inputs("cot_gradient", theta, mu, xi, chunk, mesh)
    R, g = _risk_and_grad(theta, mu, xi, targets, scheme, throw, chunk, mesh)
    scale = meanfield_scale(theta)
    return R, jax.tree_util.tree_map(lambda v: scale * v, g)


# ---------------------------------------------------------------- adjoints (chapter 2)
class AdjointResult(eqx.Module):
    r"""Output of :func:`discrete_adjoint` and :func:`continuous_adjoint`.

    Attributes:
        risk: :math:`R` of the forward pass used.
        grad: COT gradient at the particles
            :math:`\nabla_\theta \frac{\delta R}{\delta\nu}(s_\ell, \theta_{\ell m})`, as
            :class:`Heads`.
        lam: the mass-weighted adjoint at depth 0, float64 array (B, n + k, d).
        states, lams: :math:`z` and :math:`\lambda` at depths :math:`s_\ell`, float64 arrays
            (L + 1, B, n + k, d) if ``trace``.
        first_bad_layer: first layer where the states, the adjoint and the gradient became
            non-finite, int array (3,), −1 where finite (read it with ``throw=False``).
        reversal: for :func:`adjoint_flat_memory`, the largest relative residual of the Euler
            reversals and the most fixed-point iterations one layer took, float64 array (2,);
            else None.
    """

    risk: Float[Array, ""]
    grad: Heads
    lam: Float[Array, "B nk d"]
    states: Float[Array, "L1 B nk d"] | None
    lams: Float[Array, "L1 B nk d"] | None
    first_bad_layer: Int[Array, "3"] | None = None
    reversal: Float[Array, "2"] | None = None


def discrete_adjoint(
    theta: Heads | SmoothHeads,
    mu: EmpiricalMeasure,
    xi: Float[Array, "B d"] | None,
    targets: Targets,
    *,
    scheme: str = "euler",
    drop: str | tuple[str, ...] = (),
    local_only: bool = False,
    trace: bool = False,
    throw: bool = True,
    chunk: int | None = None,
    mesh=None,
) -> AdjointResult:
    r"""Exact gradient of the depth-:math:`L` network by its discrete adjoint (Model: risk).

    The forward sweep stores the states :math:`z^\ell` only; the backward sweep recomputes each
    layer's attention. Euler, from :math:`\lambda^L = \nabla_{z^L} R`
    (:math:`\lambda_k = a_k(z^L_k - T_k)/N`, :math:`\lambda_\xi = W^\top r/N`):

    .. math::

        \lambda^\ell = \lambda^{\ell+1}
            + h\, D\Phi_\ell(z^\ell)^\top\lambda^{\ell+1},\qquad
        LM\,\nabla_{\theta_{\ell m}} R = \nabla_\theta G_\ell(\theta_{\ell m}),\quad
        G_\ell(\theta) = \sum_k
            \langle \lambda^{\ell+1}_k, \Gamma_\theta(\mu^\ell, z^\ell_k)\rangle .

    Heun (layer :math:`\ell`'s heads in both stages): with
    :math:`y = z^\ell + h\Phi_\ell(z^\ell)`,
    :math:`\lambda_y = \frac h2 D\Phi_\ell(y)^\top\lambda^{\ell+1}` and
    :math:`\lambda^\ell = \lambda^{\ell+1} + \lambda_y
    + h\, D\Phi_\ell(z^\ell)^\top(\lambda^{\ell+1}/2 + \lambda_y)`.

    Args:
        theta: layer-wise heads, float64 arrays (L, M, d, d) (SmoothHeads are refused with a
            hint).
        mu, xi, targets: as in :func:`risk`.
        scheme: ``"euler"`` or ``"heun"``.
        drop: parts of the interaction term of :math:`D\Phi^\top` to drop, ``"token_to_token"``
            and/or ``"query_to_token"`` (ablations; the result is then not a gradient).
        local_only: drop both parts (the frozen-context ablation).
        trace: also return :math:`z^\ell` and :math:`\lambda^\ell` for :math:`\ell = 0, \dots, L`.
        throw: raise :class:`SolveFailed` on non-finite values (else only report them).
        chunk, mesh: as in :func:`~mftransformer.solver.forward.forward`.

    Raises:
        ParameterError: bad shapes, scheme or heads, a bad ``chunk`` or mesh.
        SolveFailed: non-finite token states, adjoint or gradient (names the quantity and layer).
    """
    where = f"discrete_adjoint(scheme={scheme!r})"
    if not isinstance(theta, Heads):
        raise ParameterError(
            f"{where}: theta is {type(theta).__name__}; allowed layer-wise Heads (use "
            "theta.discretise(L), or continuous_adjoint for smooth heads)."
        )
    check_choice(where, "scheme", scheme, _EXACT_SCHEMES)
    forward_depth(theta, mu, None, scheme)
    xi = check_forward_inputs("discrete_adjoint", theta, mu, xi)
    check_targets(mu, xi, targets)
    theta, mu, xi, chunk, mesh = place_inputs(where, theta, mu, xi, chunk, mesh)
    keep = interaction_weights(dropped_parts(drop, local_only, where))
    options = {"trace": trace, "chunk": chunk, "mesh": mesh}
    out = _exact_core(theta, mu, xi, targets, keep, scheme=scheme, **options)
    return finish_adjoint(out, where, throw)


def continuous_adjoint(
    theta: Heads | SmoothHeads,
    mu: EmpiricalMeasure,
    xi: Float[Array, "B d"] | None,
    targets: Targets,
    *,
    L: int | None = None,
    scheme: str = "euler",
    drop: str | tuple[str, ...] = (),
    local_only: bool = False,
    trace: bool = False,
    throw: bool = True,
    chunk: int | None = None,
    mesh=None,
) -> AdjointResult:
    r"""COT gradient from the continuous adjoint ODE, integrated backwards with the state (Model:
    risk).

    The forward pass keeps only :math:`z(1)`; the pair :math:`(z, \lambda)` then solves, from
    :math:`s = 1` to 0,

    .. math::

        \dot z = \Phi_s(z),\qquad -\dot\lambda = D\Phi_s(z)^\top\lambda,\qquad
        \nabla_\theta\frac{\delta R}{\delta\nu}(s_\ell,\theta)
          = \nabla_\theta \sum_k
            \langle\lambda_k(s_\ell), \Gamma_\theta(\mu_{s_\ell}, z_k(s_\ell))\rangle ,

    with :math:`L` steps of the explicit scheme, no stored trajectory (memory independent of
    :math:`L`). :math:`D\Phi^\top\lambda` holds the local term and the interaction (non-local)
    term of the Transformer PDE.
    The reversed state is only as accurate as the scheme, so the gradient converges to the
    continuous-depth COT gradient at the scheme's order (smooth heads); it is *not* the exact
    gradient of the network (use :func:`discrete_adjoint`).

    Args:
        theta: :class:`SmoothHeads` (needs ``L``) or layer-wise :class:`Heads`.
        L: number of depth steps (``theta.L`` for Heads).
        scheme: ``"euler"``, ``"heun"`` or ``"rk4"``, forward and backward.
        drop: parts of the interaction term to drop (ablations, as in :func:`discrete_adjoint`).
        local_only: drop both parts (the frozen-context ablation).
        trace: also return :math:`z(s_\ell)` and :math:`\lambda(s_\ell)` (this stores the
            trajectory).
        throw: raise :class:`SolveFailed` on non-finite values (else only report them).
        chunk, mesh: as in :func:`~mftransformer.solver.forward.forward`.

    Raises:
        ParameterError: bad shapes, scheme or ``L``, a bad ``chunk`` or mesh.
        SolveFailed: non-finite token states, adjoint or gradient (names the quantity and layer).
    """
    where = f"continuous_adjoint(scheme={scheme!r})"
    L = forward_depth(theta, mu, L, scheme)
    xi = check_forward_inputs("continuous_adjoint", theta, mu, xi)
    check_targets(mu, xi, targets)
    theta, mu, xi, chunk, mesh = place_inputs(where, theta, mu, xi, chunk, mesh)
    keep = interaction_weights(dropped_parts(drop, local_only, where))
    options = {"trace": trace, "chunk": chunk, "mesh": mesh}
    out = _continuous_core(theta, mu, xi, targets, keep, L=L, scheme=scheme, **options)
    return finish_adjoint(out, where, throw)


# ---------------------------------------------------------------- shared with .reversal
def place_inputs(where, theta, mu, xi, chunk, mesh):
    """The resolved ``chunk`` and mesh, and the inputs placed on the mesh."""
    chunk = resolve_chunk(chunk, mu.n, where)
    mesh = resolve_mesh(mesh, mu.B, theta.M, where)
    theta, (mu, xi) = place(mesh, theta, (mu, xi))
    return theta, mu, xi, chunk, mesh


def finish_adjoint(out, where, throw, reversal=None):
    """The :class:`AdjointResult` of a core's output, with its non-finite values reported (raised
    if ``throw``) by quantity and layer."""
    R, grad, lam0, states, lams, (bad_z, bad_lam, bad_g) = out
    first_bad = jnp.stack([bad_z, bad_lam, bad_g])
    if not throw:
        return AdjointResult(R, grad, lam0, states, lams, first_bad, reversal)
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
        return AdjointResult(R, grad, lam0, states, lams, first_bad, reversal)
    R = nonfinite_guard(R, bad_z, f"{where}: token states")
    lam0 = nonfinite_guard(lam0, bad_lam, f"{where}: adjoint lam")
    grad = nonfinite_guard(grad, bad_g, f"{where}: COT gradient")
    return AdjointResult(R, grad, lam0, states, lams, first_bad, reversal)


# ---------------------------------------------------------------- private
@eqx.filter_jit
def _risk_and_grad(theta, mu, xi, targets, scheme, throw, chunk, mesh):
    def R(th):
        z = forward(th, mu, xi, scheme=scheme, throw=throw, chunk=chunk, mesh=mesh).z
        return terminal_risk(z, mu, targets)

    return jax.value_and_grad(R)(theta)


@partial(jax.jit, static_argnames=("scheme", "trace", "chunk", "mesh"))
def _exact_core(theta, mu, xi, targets, keep, *, scheme, trace, chunk, mesh):
    L, n, loga = theta.L, mu.n, mu.loga
    h = 1.0 / L
    fwd = forward(theta, mu, xi, scheme=scheme, trace=True, throw=False, chunk=chunk, mesh=mesh)
    devices = {"keep": keep, "chunk": chunk, "mesh": mesh}
    zs, zL = fwd.trajectory[:-1], fwd.z  # the states z^ℓ before each layer, and z^L
    R, lamL = jax.value_and_grad(terminal_risk)(zL, mu, targets)

    def backward_layer(carry, inputs):
        lam_next, bad_lam, bad_g = carry
        l, z = inputs
        A, V = theta.A[l], theta.V[l]
        if scheme == "euler":
            _, vjp, gA, gV = state_vjp(A, V, z, loga, n, lam_next, **devices)
            lam = lam_next + h * vjp
        else:  # heun, layer ℓ's heads in both stages
            y = z + h * state_field(A, V, z, loga, n, chunk=chunk, mesh=mesh)
            _, vjp_y, gA1, gV1 = state_vjp(A, V, y, loga, n, lam_next, **devices)
            lam_y = 0.5 * h * vjp_y
            lam_half = 0.5 * lam_next + lam_y
            _, vjp_z, gA2, gV2 = state_vjp(A, V, z, loga, n, lam_half, **devices)
            lam = lam_next + lam_y + h * vjp_z
            gA, gV = 0.5 * gA1 + gA2, 0.5 * gV1 + gV2
        bad_lam = first_nonfinite(bad_lam, l, lam)
        bad_g = first_nonfinite(bad_g, l, gA, gV)
        return (lam, bad_lam, bad_g), (gA, gV, lam if trace else None)

    bad_L = first_nonfinite(jnp.array(-1), L, lamL)
    (lam0, bad_lam, bad_g), (gA, gV, lams) = jax.lax.scan(
        backward_layer, (lamL, bad_L, jnp.array(-1)), (jnp.arange(L), zs), reverse=True
    )
    states = fwd.trajectory if trace else None
    lams = jnp.concatenate([lams, lamL[None]]) if trace else None
    return R, Heads(gA, gV), lam0, states, lams, (fwd.first_bad_layer, bad_lam, bad_g)


@partial(jax.jit, static_argnames=("L", "scheme", "trace", "chunk", "mesh"))
def _continuous_core(theta, mu, xi, targets, keep, *, L, scheme, trace, chunk, mesh):
    n, loga, h = mu.n, mu.loga, 1.0 / L
    fwd = forward(theta, mu, xi, L=L, scheme=scheme, throw=False, chunk=chunk, mesh=mesh)
    devices = {"chunk": chunk, "mesh": mesh}
    R, lam1 = jax.value_and_grad(terminal_risk)(fwd.z, mu, targets)

    def backward_step(carry, l):
        z, lam, bad_lam, bad_g = carry

        def rhs(c, y):  # (ż, λ̇) = (Φ_s(z), −DΦ_s(z)ᵀλ) at s = s_{ℓ+1} − c h
            (z_c, lam_c), (A, V) = y, theta.layer(l, 1.0 - c, L)
            phi, vjp, _, _ = state_vjp(A, V, z_c, loga, n, lam_c, keep=keep, **devices)
            return phi, -vjp

        # one step of size −h of the same scheme, from s_{ℓ+1} down to s_ℓ
        z, lam = SCHEMES[scheme].step(rhs, (z, lam), -h)
        A, V = theta.layer(l, 0.0, L)
        _, _, gA, gV = state_vjp(A, V, z, loga, n, lam, local_only=True, **devices)
        bad_lam = first_nonfinite(bad_lam, l, lam)
        bad_g = first_nonfinite(bad_g, l, gA, gV)
        return (z, lam, bad_lam, bad_g), (gA, gV, z if trace else None, lam if trace else None)

    bad_L = first_nonfinite(jnp.array(-1), L, lam1)
    (_, lam0, bad_lam, bad_g), (gA, gV, zs, lams) = jax.lax.scan(
        backward_step, (fwd.z, lam1, bad_L, jnp.array(-1)), jnp.arange(L), reverse=True
    )
    states = jnp.concatenate([zs, fwd.z[None]]) if trace else None
    lams = jnp.concatenate([lams, lam1[None]]) if trace else None
    return R, Heads(gA, gV), lam0, states, lams, (fwd.first_bad_layer, bad_lam, bad_g)

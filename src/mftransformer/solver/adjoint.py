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
Away from the particles, :func:`first_variation` evaluates :math:`G_\ell(\theta)`, the discrete
first variation :math:`\frac{\delta R}{\delta\nu}(s_\ell, \theta)` at any head, and
:func:`probe_derivative` the derivative of adding a head of vanishing mass;
:func:`adjoint_flat_memory` reconstructs the states backwards by exact Euler reversal
(:func:`invert_euler_step`), memory flat in depth.
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
    LayerField,
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
    "first_variation",
    "probe_derivative",
    "invert_euler_step",
    "adjoint_flat_memory",
    "INTERACTION_PARTS",
    "REVERSAL_TOL",
]

GRADIENT_METHODS = ("autodiff", "exact", "continuous")
_EXACT_SCHEMES = ("euler", "heun")
#: The largest relative residual :math:`|x + h\Phi(x) - z^{\ell+1}|` an exact Euler reversal may
#: leave.
REVERSAL_TOL = 1e-14


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
    theta, mu, xi, chunk, mesh = _devices("cot_gradient", theta, mu, xi, chunk, mesh)
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
    theta, mu, xi, chunk, mesh = _devices(where, theta, mu, xi, chunk, mesh)
    keep = interaction_weights(dropped_parts(drop, local_only, where))
    options = {"trace": trace, "chunk": chunk, "mesh": mesh}
    out = _exact_core(theta, mu, xi, targets, keep, scheme=scheme, **options)
    return _finish(out, where, throw)


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
    theta, mu, xi, chunk, mesh = _devices(where, theta, mu, xi, chunk, mesh)
    keep = interaction_weights(dropped_parts(drop, local_only, where))
    options = {"trace": trace, "chunk": chunk, "mesh": mesh}
    out = _continuous_core(theta, mu, xi, targets, keep, L=L, scheme=scheme, **options)
    return _finish(out, where, throw)


# ---------------------------------------------------------------- first variation (chapter 2)
def first_variation(
    A: Float[Array, "P d d"],
    V: Float[Array, "P d d"],
    z: Float[Array, "B nk d"],
    lam: Float[Array, "B nk d"],
    loga: Float[Array, "B n"],
) -> Float[Array, " P"]:
    r"""The discrete first variation :math:`G_\ell(\theta)` at ``P`` arbitrary heads.

    .. math::

        G_\ell(\theta) = \sum_i \sum_k
            \big\langle \lambda^{\ell+1}_{ik}, \Gamma_\theta(\mu^\ell_i, z^\ell_{ik})\big\rangle
        \;\longleftrightarrow\; \frac{\delta R}{\delta\nu}(s_\ell, \theta),\qquad
        \nabla_\theta G_\ell(\theta_{\ell m}) = LM\,\nabla_{\theta_{\ell m}} R ,

    with :math:`k` over the atoms and the queries and
    :math:`\mu^\ell_i = \sum_j a_{ij}\delta_{z^\ell_{ij}}`; the heads need not be particles of
    the network (Model: risk, the dictionary between the discrete and continuous adjoints).
    Evaluated head by head (``vmap`` over the ``P`` heads).

    Args:
        A, V: the heads :math:`\theta_p = (A_p, V_p)`, float64 arrays (P, d, d).
        z: the states :math:`z^\ell` before layer :math:`\ell`, float64 array (B, n + k, d)
            (atoms then queries; ``AdjointResult.states[l]``).
        lam: the adjoint :math:`\lambda^{\ell+1}` after it, same shape
            (``AdjointResult.lams[l + 1]``).
        loga: the atoms' log-weights, float64 array (B, n); the keys are the first n points.

    Returns:
        :math:`G_\ell(\theta_p)`, float64 array (P,).
    """
    n = loga.shape[-1]
    if A.ndim != 3 or A.shape != V.shape or z.shape != lam.shape or z.shape[-1] != A.shape[-1]:
        raise ParameterError(
            f"first_variation: A {tuple(A.shape)}, V {tuple(V.shape)}, z {tuple(z.shape)}, lam "
            f"{tuple(lam.shape)}; allowed A, V (P, d, d) and z, lam (B, n + k, d) alike."
        )
    return _first_variation(A, V, z, lam, loga, n)


@partial(jax.jit, static_argnames=("n",))
def _first_variation(A, V, z, lam, loga, n):
    def G(A1, V1):  # Σ_i Σ_k ⟨λ_ik, V m_{μ_i}(A z_ik)⟩ for one head
        tilted_mean = jax.vmap(lambda x, la, y: LayerField(A1[None]).tilt(x, la, y)[2][0])
        m = tilted_mean(z[:, :n], loga, z)
        return jnp.sum(lam * jnp.einsum("ij,bkj->bki", V1, m))

    return jax.vmap(G)(A, V)


def probe_derivative(
    theta: Heads,
    mu: EmpiricalMeasure,
    xi: Float[Array, "B d"] | None,
    targets: Targets,
    *,
    layer: int,
    A: Float[Array, "P d d"],
    V: Float[Array, "P d d"],
    chunk: int | None = None,
    mesh=None,
) -> Float[Array, " P"]:
    r"""The derivative of the risk when a head of vanishing mass is added at :math:`\theta_p`.

    Layer :math:`\ell`'s measure becomes :math:`(1-\varepsilon)\nu_\ell+\varepsilon\delta_\theta`;
    by the discrete adjoint of the Euler network (Model: risk)

    .. math::

        \frac{dR}{d\varepsilon}\Big|_{\varepsilon=0}
          = h\Big(G_\ell(\theta) - \frac1M\sum_m G_\ell(\theta_{\ell m})\Big),

    the first variation without its constant (:func:`first_variation`).

    Args:
        theta: layer-wise heads, float64 arrays (L, M, d, d); Euler network.
        mu, xi, targets: as in :func:`risk`.
        layer: :math:`\ell`, in :math:`0, \dots, L - 1`.
        A, V: the probe heads, float64 arrays (P, d, d).
        chunk, mesh: as in :func:`~mftransformer.solver.forward.forward`.

    Returns:
        :math:`dR/d\varepsilon` for each probe, float64 array (P,).

    Raises:
        ParameterError: a layer outside the network, bad shapes.
    """
    if not 0 <= layer < theta.L:
        raise ParameterError(
            f"probe_derivative: layer = {layer}; allowed 0 .. {theta.L - 1} (L = {theta.L})."
        )
    out = discrete_adjoint(theta, mu, xi, targets, trace=True, chunk=chunk, mesh=mesh)
    z, lam = out.states[layer], out.lams[layer + 1]
    P = A.shape[0]  # one call for the probes and the particles: one compiled program
    G = first_variation(
        jnp.concatenate([A, theta.A[layer]]), jnp.concatenate([V, theta.V[layer]]), z, lam, mu.loga
    )
    return (G[:P] - jnp.mean(G[P:])) / theta.L


# ---------------------------------------------------------------- exact Euler reversal
def invert_euler_step(
    A: Float[Array, "M d d"],
    V: Float[Array, "M d d"],
    z_next: Float[Array, "B nk d"],
    loga: Float[Array, "B n"],
    *,
    h: float,
    tol: float = REVERSAL_TOL,
    max_iter: int = 50,
    chunk: int | None = None,
    mesh=None,
):
    r"""The state before an Euler layer, from the state after it, by fixed-point iteration.

    Solves :math:`z + h\Phi_\ell(z) = z^{\ell+1}` by

    .. math::

        x \leftarrow z^{\ell+1} - h\,\Phi_\ell(x),\qquad
        x_0 = z^{\ell+1} - h\,\Phi_\ell(z^{\ell+1}),

    a contraction when :math:`h\,\mathrm{Lip}(\Phi_\ell) < 1` (Model: risk, memory). It stops
    when the relative residual :math:`|x + h\Phi_\ell(x) - z^{\ell+1}|_\infty /
    \max(1, |z^{\ell+1}|_\infty)` stops decreasing, falls below ``tol / 10``, or after
    ``max_iter`` iterations, and fails loudly (``eqx.error_if``) if it is then above ``tol``.

    Args:
        A, V: layer :math:`\ell`'s heads, float64 arrays (M, d, d).
        z_next: :math:`z^{\ell+1}`, float64 array (B, n + k, d) (atoms then queries).
        loga: the atoms' log-weights, float64 array (B, n).
        h: the step :math:`1/L`.
        tol, max_iter: the residual allowed and the iteration budget.
        chunk, mesh: as in :func:`~mftransformer.solver.attention.state_field`.

    Returns:
        ``(z, residual, iterations)``: :math:`z^\ell` (B, n + k, d), the last relative residual
        and the number of iterations.

    Raises:
        RuntimeError: the residual stayed above ``tol`` (raised by ``eqx.error_if``, as
            JAX's ``XlaRuntimeError``).
    """
    n = loga.shape[-1]
    scale = jnp.maximum(1.0, jnp.max(jnp.abs(z_next)))

    def iterate(state):
        x, res, _, it = state
        x_new = z_next - h * state_field(A, V, x, loga, n, chunk=chunk, mesh=mesh)
        return x_new, jnp.max(jnp.abs(x_new - x)) / scale, res, it + 1

    def going(state):
        _, res, res_before, it = state
        return (res > tol / 10) & (res < res_before) & (it < max_iter)

    inf = jnp.asarray(jnp.inf, z_next.dtype)
    x0 = z_next - h * state_field(A, V, z_next, loga, n, chunk=chunk, mesh=mesh)
    x, res, _, it = jax.lax.while_loop(going, iterate, iterate((x0, inf, 2 * inf, 0)))
    x = eqx.error_if(
        x,
        res > tol,
        f"invert_euler_step: the Euler reversal did not converge (relative residual above "
        f"{tol:g} after at most {max_iter} iterations; h Lip(Phi) may exceed 1: more layers)",
    )
    return x, res, it


def adjoint_flat_memory(
    theta: Heads,
    mu: EmpiricalMeasure,
    xi: Float[Array, "B d"] | None,
    targets: Targets,
    *,
    drop: str | tuple[str, ...] = (),
    local_only: bool = False,
    tol: float = REVERSAL_TOL,
    max_iter: int = 50,
    throw: bool = True,
    chunk: int | None = None,
    mesh=None,
) -> AdjointResult:
    r"""The exact gradient of the Euler network with memory flat in depth (Model: risk, memory).

    The forward pass keeps only :math:`z^L`; the backward sweep rebuilds each state before its
    layer by exact Euler reversal (:func:`invert_euler_step`) and applies

    .. math::

        z^\ell = (\mathrm{id} + h\Phi_\ell)^{-1}(z^{\ell+1}),\qquad
        \lambda^\ell = \lambda^{\ell+1} + h\,D\Phi_\ell(z^\ell)^\top\lambda^{\ell+1},

    so it returns :func:`discrete_adjoint`'s gradient to round-off without storing the states.

    Args:
        theta: layer-wise heads, float64 arrays (L, M, d, d) (Euler network).
        mu, xi, targets: as in :func:`risk`.
        drop, local_only: ablations, as in :func:`discrete_adjoint`.
        tol, max_iter: of each reversal (:func:`invert_euler_step`).
        throw: raise :class:`SolveFailed` on non-finite values (else only report them).
        chunk, mesh: as in :func:`~mftransformer.solver.forward.forward`.

    Returns:
        :class:`AdjointResult` with ``reversal`` = (largest residual, most iterations).

    Raises:
        ParameterError: bad shapes or heads, a bad ``chunk`` or mesh.
        SolveFailed: non-finite token states, adjoint or gradient.
    """
    where = "adjoint_flat_memory"
    if not isinstance(theta, Heads):
        raise ParameterError(
            f"{where}: theta is {type(theta).__name__}; allowed layer-wise Heads (use "
            "theta.discretise(L))."
        )
    forward_depth(theta, mu, None, "euler")
    xi = check_forward_inputs(where, theta, mu, xi)
    check_targets(mu, xi, targets)
    theta, mu, xi, chunk, mesh = _devices(where, theta, mu, xi, chunk, mesh)
    keep = interaction_weights(dropped_parts(drop, local_only, where))
    options = {"tol": tol, "max_iter": max_iter, "chunk": chunk, "mesh": mesh}
    *out, reversal = _flat_core(theta, mu, xi, targets, keep, **options)
    return _finish(tuple(out), where, throw, reversal=reversal)


# ---------------------------------------------------------------- private
def _devices(where, theta, mu, xi, chunk, mesh):
    """The resolved ``chunk`` and mesh, and the inputs placed on the mesh."""
    chunk = resolve_chunk(chunk, mu.n, where)
    mesh = resolve_mesh(mesh, mu.B, theta.M, where)
    theta, (mu, xi) = place(mesh, theta, (mu, xi))
    return theta, mu, xi, chunk, mesh


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


@partial(jax.jit, static_argnames=("tol", "max_iter", "chunk", "mesh"))
def _flat_core(theta, mu, xi, targets, keep, *, tol, max_iter, chunk, mesh):
    L, n, loga, h = theta.L, mu.n, mu.loga, 1.0 / theta.L
    fwd = forward(theta, mu, xi, throw=False, chunk=chunk, mesh=mesh)  # z^L only
    R, lamL = jax.value_and_grad(terminal_risk)(fwd.z, mu, targets)
    reverse = {"h": h, "tol": tol, "max_iter": max_iter, "chunk": chunk, "mesh": mesh}

    def backward_layer(carry, l):
        z_next, lam_next, bad_lam, bad_g, worst, most = carry
        A, V = theta.A[l], theta.V[l]
        z, res, it = invert_euler_step(A, V, z_next, loga, **reverse)
        _, vjp, gA, gV = state_vjp(A, V, z, loga, n, lam_next, keep=keep, chunk=chunk, mesh=mesh)
        lam = lam_next + h * vjp
        bad_lam = first_nonfinite(bad_lam, l, lam)
        bad_g = first_nonfinite(bad_g, l, gA, gV)
        carry = (z, lam, bad_lam, bad_g, jnp.maximum(worst, res), jnp.maximum(most, it))
        return carry, (gA, gV)

    bad_L = first_nonfinite(jnp.array(-1), L, lamL)
    init = (fwd.z, lamL, bad_L, jnp.array(-1), jnp.zeros((), fwd.z.dtype), jnp.array(0))
    (_, lam0, bad_lam, bad_g, worst, most), (gA, gV) = jax.lax.scan(
        backward_layer, init, jnp.arange(L), reverse=True
    )
    bad = (fwd.first_bad_layer, bad_lam, bad_g)
    reversal = jnp.stack([worst, most.astype(worst.dtype)])
    return R, Heads(gA, gV), lam0, None, None, bad, reversal


def _finish(out, where, throw, reversal=None):
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

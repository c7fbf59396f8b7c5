r"""The exact gradient of the Euler network with memory flat in depth, by exact Euler reversal.

Model page, "Risk" (memory). The discrete adjoint of :mod:`.adjoint` stores the token states of
every layer; :func:`adjoint_flat_memory` keeps only the last one and rebuilds each state before
its layer by solving :math:`z + h\Phi_\ell(z) = z^{\ell+1}` (:func:`invert_euler_step`, a
fixed-point iteration that fails loudly when it does not converge), so it returns the same
gradient to round-off with memory flat in the depth :math:`L`.
"""

from functools import partial

import equinox as eqx
import jax
import jax.numpy as jnp

from .adjoint import AdjointResult, finish_adjoint, place_inputs
from .attention import Heads, dropped_parts, interaction_weights, state_field, state_vjp
from .errors import ParameterError, first_nonfinite
from .forward import forward, forward_depth
from .measures import EmpiricalMeasure
from .risk import Targets, check_targets, terminal_risk
from .types import Array, Float
from .validate import check_forward_inputs

__all__ = ["REVERSAL_TOL", "invert_euler_step", "adjoint_flat_memory"]

#: The largest relative residual :math:`|x + h\Phi(x) - z^{\ell+1}|` an exact Euler reversal may
#: leave.
REVERSAL_TOL = 1e-14


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
        mu, xi, targets: as in :func:`~mftransformer.solver.risk.risk`.
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
    theta, mu, xi, chunk, mesh = place_inputs(where, theta, mu, xi, chunk, mesh)
    keep = interaction_weights(dropped_parts(drop, local_only, where))
    options = {"tol": tol, "max_iter": max_iter, "chunk": chunk, "mesh": mesh}
    *out, reversal = _flat_core(theta, mu, xi, targets, keep, **options)
    return finish_adjoint(tuple(out), where, throw, reversal=reversal)


# ---------------------------------------------------------------- private
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

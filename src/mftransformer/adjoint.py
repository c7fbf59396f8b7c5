"""The risk R and its conditional Wasserstein (COT) gradient at the head particles.

Model page, "Readouts" and "Adjoint" (MATH.md §1.5, §3). Task T compares the final tokens with
targets ``T``; task C reads the query out linearly, ``Y_i = W X^i_1(ξ^i_0)``:

.. math::

    R = \\frac1N \\sum_i \\tfrac12 \\sum_k a^i_k |X^i_1(x^i_k) - T^i_k|^2
        + \\frac1{2N} \\sum_i |W X^i_1(\\xi^i_0) - y_i|^2 .

The COT gradient at the particles is ``∇_θ δR/δν (s_ℓ, θ_{ℓm}) = L M ∇_{θ_{ℓm}} R^{L,M}``.
"""

import equinox as eqx
import jax
import jax.numpy as jnp

from ._typing import Array, Float
from .attention import Heads
from .errors import ParameterError, suggest
from .forward import forward
from .measures import EmpiricalMeasure

__all__ = ["Targets", "risk", "cot_gradient", "GRADIENT_METHODS"]

GRADIENT_METHODS = ("autodiff",)


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
    theta: Heads,
    mu: EmpiricalMeasure,
    xi: Float[Array, "B d"] | None,
    targets: Targets,
    *,
    method: str = "autodiff",
    scheme: str = "euler",
) -> tuple[Float[Array, ""], Heads]:
    """Risk and COT gradient at the particles, ``(R, L M ∇_θ R)``, the gradient as :class:`Heads`.

    .. math::

        \\mathrm{grad}_{\\rm COT} R\\,(s_\\ell, \\theta_{\\ell m}) = L M\\, \\nabla_{\\theta_{\\ell m}} R^{L,M}

    Args:
        method: ``"autodiff"`` (``jax.grad`` through the checkpointed scan).
    """
    if method not in GRADIENT_METHODS:
        raise ParameterError(
            f"cot_gradient: method = {method!r}; allowed {list(GRADIENT_METHODS)}."
            f"{suggest(method, GRADIENT_METHODS)}"
        )
    _check_targets(mu, xi, targets)
    R, g = _risk_and_grad(theta, mu, xi, targets, scheme)
    scale = theta.L * theta.M
    return R, jax.tree_util.tree_map(lambda v: scale * v, g)


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

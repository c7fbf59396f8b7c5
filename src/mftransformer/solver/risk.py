r"""The risk R of the depth-L network: token targets (task T) and a linear readout (task C).

Model page, "Readouts":

.. math::

    R = \frac1N \sum_i \tfrac12 \sum_k a^i_k |X^i_1(x^i_k) - T^i_k|^2
        + \frac1{2N} \sum_i |W X^i_1(\xi^i_0) - y_i|^2 .

Its gradient, the COT gradient at the particles, is in :mod:`.adjoint`.
"""

import equinox as eqx
import jax.numpy as jnp

from .attention import Heads
from .errors import ParameterError
from .forward import forward
from .measures import EmpiricalMeasure
from .types import Array, Float
from .validate import array_field, check_data

__all__ = ["Targets", "risk", "terminal_risk", "check_targets"]


class Targets(eqx.Module):
    """Targets of the risk: token targets ``T`` (task T) and/or a readout ``W`` with labels
    :math:`y` (task C). Either part may be None.

    Args:
        T: float64 array (B, n, d), token targets.
        W: float64 array (d_out, d), fixed linear readout of the query.
        y: float64 array (B, d_out), labels.
    """

    T: Float[Array, "B n d"] | None = eqx.field(default=None, converter=array_field)
    W: Float[Array, "d_out d"] | None = eqx.field(default=None, converter=array_field)
    y: Float[Array, "B d_out"] | None = eqx.field(default=None, converter=array_field)

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
    r"""The empirical risk :math:`R(\nu)` of the depth-L network (Model: eq. (risk)).

    Raises:
        ParameterError: targets whose shapes do not match the inputs (both shapes named).
    """
    xi = check_data("risk", theta, mu, xi, targets)
    check_targets(mu, xi, targets)
    return terminal_risk(forward(theta, mu, xi, scheme=scheme).z, mu, targets)


def terminal_risk(z: Float[Array, "B nk d"], mu: EmpiricalMeasure, targets: Targets):
    r""":math:`R` as a function of the final states :math:`z^L` (atoms then queries), as in
    :func:`risk`; its gradient is the adjoint's terminal value :math:`\lambda^L` (Model: risk)."""
    tokens, queries, N = z[:, : mu.n], z[:, mu.n :], mu.B
    R = jnp.zeros((), z.dtype)
    if targets.T is not None:
        R = R + 0.5 * jnp.sum(mu.a * jnp.sum((tokens - targets.T) ** 2, axis=-1)) / N
    if targets.W is not None:
        r = queries[:, 0] @ targets.W.T - targets.y
        R = R + 0.5 * jnp.sum(r**2) / N
    return R


def check_targets(mu: EmpiricalMeasure, xi, targets: Targets) -> None:
    """Raise :class:`ParameterError` unless ``targets`` fit the contexts ``mu`` and queries
    ``xi`` (every shape named)."""
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

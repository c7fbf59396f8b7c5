r"""Diagnostics of a training history: the energy identity and the synchronous distance.

Model page, "Gradient flow". Along the flow :math:`dR/dt = -\|g\|^2`; gradient descent
with step :math:`\eta` meets it to :math:`O(\eta)`, one step at a time (:func:`dissipation_ratio`)
and integrated over a run (:func:`energy_defect`). :func:`sync_distance` compares two runs particle
by particle, an upper bound on :math:`W_{\mathrm{COT}}` (Model: heads).
"""

import jax.numpy as jnp
import numpy as np

from .attention import Heads, meanfield_scale
from .errors import check_choice

__all__ = ["dissipation_ratio", "energy_defect", "sync_distance"]

_RULES = ("trapezoid", "left")


def dissipation_ratio(R0, R1, g2_0, eta):
    r"""One-step dissipation ratio :math:`\rho = (R_0 - R_1)/(\eta \|g_0\|^2)`;
    :math:`1 - \rho = O(\eta)` (Model: risk)."""
    return (R0 - R1) / (eta * g2_0)


def energy_defect(t, R, g2, rule: str = "trapezoid"):
    r"""Relative defect of the integrated energy identity along a history.

    .. math::

        d = \frac{R(0) - R(T) - \int_0^T \|g\|^2 dt}{R(0) - R(T)}

    with the integral by the trapezoid (or left Riemann) rule; :math:`d = O(\eta)` for gradient
    descent.

    Raises:
        ParameterError: unknown ``rule``.
    """
    check_choice("energy_defect", "rule", rule, _RULES)
    t, R, g2 = (np.asarray(v, float) for v in (t, R, g2))
    dt = np.diff(t)
    if rule == "trapezoid":
        integral = np.sum(0.5 * dt * (g2[1:] + g2[:-1]))
    else:
        integral = np.sum(dt * g2[:-1])
    drop = R[0] - R[-1]
    return (drop - integral) / drop


def sync_distance(theta: Heads, theta_ref: Heads):
    r"""Synchronous distance
    :math:`D_{\mathrm{sync}}^2 = \frac{1}{LM} \sum |\theta_{\ell m} - \theta'_{\ell m}|^2`, an upper
    bound on :math:`W_{\mathrm{COT}}` for matched labels (Model: heads). Works on leading batch axes
    too."""
    ref_A = jnp.broadcast_to(theta_ref.A, theta.A.shape)  # explicit: batch axes of snapshots
    ref_V = jnp.broadcast_to(theta_ref.V, theta.V.shape)
    dA, dV = theta.A - ref_A, theta.V - ref_V
    axes = (-4, -3, -2, -1)
    return jnp.sqrt(
        (jnp.sum(dA**2, axis=axes) + jnp.sum(dV**2, axis=axes)) / meanfield_scale(theta)
    )

r"""Massless *tracer* heads carried by a reference network (chapter 3's propagation of chaos).

A reference network is trained by gradient descent together with tracer heads of no mass, each
moved by the reference's COT gradient at its own position:

.. math::

    \dot\theta = -\nabla_\theta \frac{\delta R}{\delta\nu}[\nu^t_{\rm ref}](s_\ell, \theta)
      = -\nabla_\theta G_\ell(\theta),\qquad
    G_\ell(\theta) = \sum_{b,k} \langle \lambda^{\ell+1}_{bk},
      \Gamma_\theta(\mu^\ell_b, z^\ell_{bk}) \rangle,

with the reference's states :math:`z^\ell` and adjoints :math:`\lambda^{\ell+1}`. For a large
reference this is the mean-field velocity, so tracers started at a small network's initial heads
are the propagation-of-chaos coupling of that network.
"""

from functools import partial

import equinox as eqx
import jax
import jax.numpy as jnp

from .adjoint import Targets, discrete_adjoint
from .attention import LayerField
from .errors import ParameterError, check_positive, check_steps, first_nonfinite
from .gradflow import TrainingHistory, cot_norm2, gd_step
from .heads import Heads
from .measures import EmpiricalMeasure
from .streaming import resolve_chunk
from .types import Array, Float
from .validate import check_data

__all__ = ["TracerHistory", "tracer_grad", "train_tracers"]


class TracerHistory(eqx.Module):
    r"""A reference run and the tracer heads it carried.

    Attributes:
        reference: the reference network's :class:`~mftransformer.solver.gradflow.TrainingHistory`
            (risk :math:`R`, :math:`\|g\|^2` per step; first and last heads as snapshots).
        tracers: the tracer heads after the last step, float64 arrays (L, M_tr, d, d).
    """

    reference: TrainingHistory
    tracers: Heads


def tracer_grad(tracers: Heads, states, lams, loga, n: int, *, chunk: int | None = None) -> Heads:
    r"""The COT gradient of a network, given by its traced states and adjoints, at other heads.

    .. math::

        g_\ell(\theta) = \nabla_\theta G_\ell(\theta),\qquad
        G_\ell(\theta) = \sum_{b,k} \langle \lambda^{\ell+1}_{bk},
            \Gamma_\theta(\mu^\ell_b, z^\ell_{bk}) \rangle,\qquad
        \mu^\ell_b = \sum_{j\le n} a_{bj}\delta_{z^\ell_{bj}} .

    At the network's own heads this is its COT gradient :math:`LM\nabla_\theta R` (a test checks
    :math:`10^{-12}`); elsewhere it is the gradient of its first variation, the velocity a head of
    vanishing mass would follow.

    Args:
        tracers: heads where the gradient is taken, float64 arrays (L, M_tr, d, d).
        states: the network's states :math:`z^\ell`, float64 array (L + 1, B, n + k, d).
        lams: its adjoints :math:`\lambda^\ell`, float64 array (L + 1, B, n + k, d) (as returned
            by :func:`~mftransformer.solver.adjoint.discrete_adjoint` with ``trace=True``).
        loga: the atoms' log-weights, float64 array (B, n).
        n: the number of atoms (the keys are the states' first :math:`n` points).
        chunk: the attention kernel, as in :func:`~mftransformer.solver.attention.field`.
    """
    c = resolve_chunk(chunk, n, "tracer_grad")

    def layer(A, V, z, lam):
        gA, gV = jax.vmap(LayerField(A, V, c).param_grad)(z[:, :n], loga, z, lam)
        return gA.sum(0), gV.sum(0)

    # λ^{ℓ+1} pairs with z^ℓ (the state before the layer, the adjoint after it)
    gA, gV = jax.vmap(layer)(tracers.A, tracers.V, states[:-1], lams[1:])
    return Heads(gA, gV)


def train_tracers(
    theta_ref0: Heads,
    tracers0: Heads,
    mu: EmpiricalMeasure,
    xi: Float[Array, "B d"] | None,
    targets: Targets,
    *,
    eta: float,
    steps: int,
    throw: bool = True,
) -> TracerHistory:
    r"""Gradient descent of a reference network, carrying massless tracer heads along.

    .. math::

        \theta_{\rm ref}^{k+1} = \theta_{\rm ref}^k - \eta\, g_{\rm ref}(\theta_{\rm ref}^k),
        \qquad \theta_{\rm tr}^{k+1} = \theta_{\rm tr}^k - \eta\, g_{\rm ref}(\theta_{\rm tr}^k),

    with :math:`g_{\rm ref}` the reference's COT gradient field at step :math:`k`
    (:func:`tracer_grad`, the Euler discrete adjoint). The tracers do not act on the tokens.

    Args:
        theta_ref0: the reference's initial heads, float64 arrays (L, M_ref, d, d).
        tracers0: the tracers' initial heads, float64 arrays (L, M_tr, d, d) (same L and d).
        mu, xi, targets, eta, steps: as in :func:`~mftransformer.solver.gradflow.train`.
        throw: raise :class:`SolveFailed` if the reference's risk or a gradient became non-finite.

    Raises:
        ParameterError: tracers of another depth or dimension than the reference; bad ``eta``
            or ``steps``.
    """
    xi = check_data("train_tracers", theta_ref0, mu, xi, targets)
    if tracers0.L != theta_ref0.L or tracers0.d != theta_ref0.d:
        raise ParameterError(
            f"train_tracers: tracers of shape {tuple(tracers0.A.shape)} and reference heads of "
            f"shape {tuple(theta_ref0.A.shape)}; allowed the same L and d."
        )
    check_positive("train_tracers", "eta", eta)
    check_steps("train_tracers", steps, None)
    chunk = resolve_chunk(None, mu.n, "train_tracers")
    dtype = theta_ref0.A.dtype
    ref, tr = _tracer_scan(
        theta_ref0, tracers0, mu, xi, targets, jnp.asarray(eta, dtype), steps=steps, chunk=chunk
    )
    if throw:
        ref.raise_if_diverged("train_tracers", eta)
    return TracerHistory(ref, tr)


# ---------------------------------------------------------------- private
@partial(jax.jit, static_argnames=("steps", "chunk"))
def _tracer_scan(theta_ref0, tracers0, mu, xi, targets, eta, *, steps, chunk):
    n = mu.n

    def step(carry, k):
        ref, tr, first_bad = carry
        out = discrete_adjoint(ref, mu, xi, targets, trace=True, throw=False, chunk=chunk)
        g_tr = tracer_grad(tr, out.states, out.lams, mu.loga, n, chunk=chunk)
        g2 = cot_norm2(out.grad)
        first_bad = first_nonfinite(first_bad, k, out.risk, g2, g_tr.A, g_tr.V)
        keep = (first_bad < 0) & (k < steps)
        new_ref, new_tr = gd_step(ref, out.grad, eta=eta), gd_step(tr, g_tr, eta=eta)
        ref = jax.tree_util.tree_map(lambda a, b: jnp.where(keep, a, b), new_ref, ref)
        tr = jax.tree_util.tree_map(lambda a, b: jnp.where(keep, a, b), new_tr, tr)
        return (ref, tr, first_bad), (out.risk, g2)

    (ref, tr, first_bad), (R, g2) = jax.lax.scan(
        step, (theta_ref0, tracers0, jnp.array(-1)), jnp.arange(steps + 1)
    )
    t = eta * jnp.arange(steps + 1)
    snaps = jax.tree_util.tree_map(lambda a, b: jnp.stack([a, b]), theta_ref0, ref)
    hist = TrainingHistory(ref, t, R, g2, snaps, jnp.stack([t[0], t[-1]]), first_bad)
    return hist, tr

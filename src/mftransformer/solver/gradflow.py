r"""The conditional Wasserstein gradient flow of the head measure :math:`\nu`, as interacting head
particles.

Model page, "Gradient flow". Mass moves in :math:`\theta` only, never across layers, so each
layer's measure :math:`\nu_s` is transported by the COT gradient of chapter 2:

.. math::

    \partial_t \nu^t_s = \mathrm{div}_\theta\Big(\nu^t_s\, \nabla_\theta
        \frac{\delta R}{\delta \nu}[\nu^t](s, \cdot)\Big),\qquad
    \dot\theta_{\ell m}
        = -\nabla_\theta \frac{\delta R}{\delta\nu}(s_\ell, \theta_{\ell m})
        = -L M\, \nabla_{\theta_{\ell m}} R^{L,M} .

Gradient descent with the mean-field learning rate is
:math:`\theta \leftarrow \theta - \eta L M\, \nabla R` at time :math:`t = k\eta`: :func:`gd_step`
takes :math:`\eta` times the COT gradient :math:`g = L M\, \nabla R`, whose factor :math:`L M` is
written once, in :func:`~mftransformer.solver.adjoint.meanfield_scale`. Without it, changing the
width or the depth would rescale training time. Along the flow the energy identity holds,

.. math::

    \frac{dR}{dt} = -\|g\|^2,\qquad
    \|g\|^2 = L M \sum_{\ell, m} |\nabla_{\theta_{\ell m}} R|^2
        = \frac{1}{LM} \sum_{\ell m} |\mathrm{grad}_{\rm COT} R|^2 .

Contract: :func:`train` (a jitted ``lax.scan`` of :func:`gd_step`, compiled once per shape) and
:func:`flow` (adaptive diffrax solve in training time, the dissipated energy integrated alongside)
return a :class:`TrainingHistory`. A run whose risk or gradient becomes non-finite stops updating
at that step: the scan carries that step in ``first_bad_step``, named by :class:`SolveFailed`
unless ``throw=False``. Diagnostics of a history are in :mod:`.diagnostics`; checkpointed,
resumable runs (``train_chunked``) in :mod:`mftransformer.companion.store`.
"""

from functools import partial

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp

from .adjoint import GRADIENT_METHODS, Targets, cot_gradient
from .attention import Heads, meanfield_scale
from .errors import (
    ParameterError,
    SolveFailed,
    check_choice,
    check_positive,
    check_steps,
    first_nonfinite,
    is_traced,
)
from .measures import EmpiricalMeasure
from .sharding import place, resolve_mesh
from .streaming import resolve_chunk
from .types import Array, Float, Int
from .validate import check_data

__all__ = [
    "DEFAULT_METHOD",
    "TrainingHistory",
    "cot_norm2",
    "gd_step",
    "train",
    "train_scan",
    "flow",
    "flow_solve",
]

# re-exported until experiments/gradflow.py and convergence.py import them from .diagnostics
from .diagnostics import dissipation_ratio, energy_defect, sync_distance  # noqa: E402, F401

#: The gradient method used by default, the hand-written discrete adjoint of chapter 2.
DEFAULT_METHOD = "exact"


class TrainingHistory(eqx.Module):
    r"""A training run: final heads, and the risk and squared gradient norm along it.

    Attributes:
        theta: final :class:`Heads`, float64 arrays (L, M, d, d).
        t: training times, float64 array (K + 1,) (:math:`t_k = t_0 + k\eta` for gradient
            descent).
        R: risk :math:`R(\nu^{t_k})`, float64 array (K + 1,).
        g2: squared COT gradient norm
            :math:`\|g\|^2 = L M \sum |\nabla_\theta R|^2` at :math:`t_k`, float64 array (K + 1,).
        snapshots: heads at ``snapshot_t``: a :class:`Heads` pytree with a leading snapshot axis,
            ``A``, ``V`` float64 arrays (S, L, M, d, d) (its ``.L`` property does not apply).
        snapshot_t: float64 array (S,).
        first_bad_step: first step whose risk or gradient was non-finite, −1 if none.
        dissipated: :math:`\int_0^{t_k} \|g\|^2\, dt` integrated by the solver (:func:`flow`
            only), else None.
        num_steps: accepted solver steps (:func:`flow` only), else None.
    """

    # leading axes ``*runs``: the stacked histories of :mod:`.ensembles` (one row per run)
    theta: Heads
    t: Float[Array, "*runs K1"]
    R: Float[Array, "*runs K1"]
    g2: Float[Array, "*runs K1"]
    snapshots: Heads
    snapshot_t: Float[Array, "*runs S"]
    first_bad_step: Int[Array, "*runs"]
    dissipated: Float[Array, "*runs K1"] | None = None
    num_steps: Int[Array, "*runs"] | None = None

    def raise_if_diverged(self, where: str, eta) -> "TrainingHistory":
        """Raise :class:`SolveFailed` naming ``first_bad_step`` if the run diverged (skipped
        while traced); else return the history unchanged."""
        if is_traced(self.first_bad_step):
            return self
        k = int(self.first_bad_step)
        if k >= 0:
            raise SolveFailed(
                f"{where}: the risk or its gradient became non-finite at step {k} "
                f"(t = {float(self.t[k]):.6g}); the "
                f"run stopped there. Lower the learning rate eta = {eta}."
            )
        return self


def cot_norm2(grad: Heads) -> Float[Array, ""]:
    r"""Squared COT norm of a particle gradient (Model: eq. (energy-identity)).

    .. math::

        \|g\|^2 = \frac{1}{LM} \sum_{\ell, m} |g_{\ell m}|^2
            = L M \sum_{\ell,m} |\nabla_{\theta_{\ell m}} R|^2,
        \qquad g = L M \nabla R .

    Args:
        grad: the COT gradient :math:`g` as :class:`Heads`, float64 arrays (L, M, d, d) (from
            ``cot_gradient``).
    """
    return (jnp.sum(grad.A**2) + jnp.sum(grad.V**2)) / meanfield_scale(grad)


def gd_step(theta: Heads, grad: Heads, *, eta) -> Heads:
    r"""One step of mean-field gradient descent,
    :math:`\theta \leftarrow \theta - \eta L M\, \nabla R`, given :math:`g = L M\, \nabla R`.

    .. math::

        \theta_{\ell m} \leftarrow \theta_{\ell m} - \eta\, g_{\ell m},\qquad
        g_{\ell m} = L M \nabla_{\theta_{\ell m}} R^{L,M}

    Args:
        theta: heads, float64 arrays (L, M, d, d).
        grad: the COT gradient :math:`g` from ``cot_gradient`` (scaled by
            :func:`~mftransformer.solver.adjoint.meanfield_scale`), same shape.
        eta: training-time step :math:`\eta` (:math:`t = k\eta`).
    """
    return jax.tree_util.tree_map(lambda th, g: th - eta * g, theta, grad)


def train(
    theta0: Heads,
    mu: EmpiricalMeasure,
    xi: Float[Array, "B d"] | None,
    targets: Targets,
    *,
    eta: float,
    steps: int,
    snapshot_every: int | None = None,
    method: str = DEFAULT_METHOD,
    scheme: str = "euler",
    t0: float = 0.0,
    throw: bool = True,
    chunk: int | None = None,
    mesh=None,
) -> TrainingHistory:
    r"""Mean-field gradient descent for ``steps`` steps: a jitted ``lax.scan`` of :func:`gd_step`.

    .. math::

        \theta^{k+1} = \theta^k - \eta\, L M \nabla R(\theta^k),\qquad t_k = t_0 + k\eta

    Compiled once per (shapes, ``steps``, ``snapshot_every``, ``method``, ``scheme``); ``eta`` and
    ``t0`` are traced, so a new step size does not recompile.

    Args:
        theta0: initial heads :math:`\theta^0`, float64 arrays (L, M, d, d).
        mu, xi, targets: the data of the risk :math:`R` (chapter 2).
        eta: step :math:`\eta > 0`, finite.
        steps: number of steps :math:`K \ge 1`.
        snapshot_every: keep the heads every this many steps (must divide ``steps``); None keeps
            the first and last only.
        method: gradient method of ``cot_gradient`` (one of ``adjoint.GRADIENT_METHODS``).
        scheme: forward scheme (``"euler"`` is the network).
        t0: time of :math:`\theta^0`.
        throw: raise :class:`SolveFailed` if the risk became non-finite.
        chunk, mesh: the attention kernel and the devices, as in
            :func:`~mftransformer.solver.forward.forward` (the heads stay sharded across steps).

    Returns:
        :class:`TrainingHistory` with :math:`K + 1` entries (the last at the final heads).

    Raises:
        ParameterError: bad ``eta``, ``steps``, ``snapshot_every``, ``method``, ``chunk`` or mesh.
        SolveFailed: the risk or its gradient became non-finite (names the step; the heads are
            frozen from that step on).
    """
    xi = check_data("train", theta0, mu, xi, targets)
    check_positive("train", "eta", eta)
    check_steps("train", steps, snapshot_every)
    check_choice("train", "method", method, GRADIENT_METHODS)
    every = steps if snapshot_every is None else snapshot_every
    chunk = resolve_chunk(chunk, mu.n, "train")
    mesh = resolve_mesh(mesh, mu.B, theta0.M, "train")
    theta0, (mu, xi) = place(mesh, theta0, (mu, xi))
    dtype = theta0.A.dtype
    args = (theta0, mu, xi, targets, jnp.asarray(eta, dtype), jnp.asarray(t0, dtype))
    options = {"method": method, "scheme": scheme, "chunk": chunk, "mesh": mesh}
    hist = train_scan(*args, steps=steps, every=every, **options)
    return hist.raise_if_diverged("train", eta) if throw else hist


def flow(
    theta0: Heads,
    mu: EmpiricalMeasure,
    xi: Float[Array, "B d"] | None,
    targets: Targets,
    *,
    T: float,
    n_save: int = 51,
    rtol: float = 1e-8,
    atol: float = 1e-8,
    method: str = DEFAULT_METHOD,
    scheme: str = "euler",
    max_steps: int = 100_000,
    throw: bool = True,
    chunk: int | None = None,
    mesh=None,
) -> TrainingHistory:
    r"""The particle gradient flow :math:`\dot\theta = -L M\, \nabla R(\theta)` on :math:`[0, T]`
    by an adaptive diffrax solve.

    .. math::

        \dot\theta_{\ell m} = -g_{\ell m}(\theta),\qquad \dot E = \|g(\theta)\|^2,
        \qquad E(0) = 0

    Tsit5 with a PID controller; the dissipated energy :math:`E(t)` is integrated alongside, so
    :math:`R(0) - R(t) - E(t)` measures the energy identity to the solver tolerance.

    Args:
        T: horizon :math:`T > 0`, finite.
        n_save: number of equally spaced save times in :math:`[0, T]` (at least 2).
        rtol, atol: tolerances of the step-size controller.
        method, scheme: as in :func:`train`.
        max_steps: solver step budget.
        chunk, mesh: as in :func:`train`.

    Returns:
        :class:`TrainingHistory` at the save times, with ``dissipated`` and ``num_steps``.

    Raises:
        ParameterError: bad ``T``, ``n_save``, tolerances or ``method``.
        SolveFailed: the solve failed (a non-finite gradient makes the controller reject every
            step, or the step budget ran out), with diffrax's reason.
    """
    xi = check_data("flow", theta0, mu, xi, targets)
    check_positive("flow", "T", T)
    check_positive("flow", "rtol", rtol)
    check_positive("flow", "atol", atol)
    check_choice("flow", "method", method, GRADIENT_METHODS)
    if not isinstance(n_save, int) or n_save < 2:
        raise ParameterError(f"flow: n_save = {n_save!r}; allowed integer >= 2.")
    ts = jnp.linspace(0.0, T, n_save, dtype=theta0.A.dtype)
    chunk = resolve_chunk(chunk, mu.n, "flow")
    mesh = resolve_mesh(mesh, mu.B, theta0.M, "flow")
    theta0, (mu, xi) = place(mesh, theta0, (mu, xi))
    options = {"method": method, "scheme": scheme, "max_steps": max_steps, "chunk": chunk}
    options["mesh"] = mesh
    hist, result = flow_solve(theta0, mu, xi, targets, ts, rtol=rtol, atol=atol, **options)
    if throw and not is_traced(hist.R):
        if result != diffrax.RESULTS.successful:
            raise SolveFailed(
                f"flow: the diffrax solve on [0, {T}] failed: {result}. Lower T, "
                "raise max_steps, or check the learning problem for divergence."
            )
    return hist


# ---------------------------------------------------------------- private
def _risk_grad(theta, mu, xi, targets, method, scheme, chunk=None, mesh=None):
    # throw=False: a non-finite risk or gradient is data here, read by the scan's first_bad_step
    options = {"method": method, "scheme": scheme, "chunk": chunk, "mesh": mesh}
    R, g = cot_gradient(theta, mu, xi, targets, throw=False, **options)
    return R, g, cot_norm2(g)


@partial(jax.jit, static_argnames=("steps", "every", "method", "scheme", "chunk", "mesh"))
def train_scan(theta0, mu, xi, targets, eta, t0, *, steps, every, method, scheme, chunk, mesh):
    """The jitted core of :func:`train` on checked inputs (``eta``, ``t0`` arrays; ``chunk`` and
    ``mesh`` resolved): a pure function of the heads, so runs over seeds batch with ``jax.vmap``."""
    # one flat scan over k = 0..K evaluating the gradient once per step: the gradient program is
    # traced once (compile time), the last iteration only records R and ‖g‖² at θ^K
    n_snaps = steps // every + 1
    snaps0 = jax.tree_util.tree_map(lambda v: jnp.zeros((n_snaps, *v.shape), v.dtype), theta0)

    def step(carry, k):
        theta, first_bad, snaps = carry
        snaps = jax.lax.cond(
            k % every == 0,
            lambda s: jax.tree_util.tree_map(lambda a, th: a.at[k // every].set(th), s, theta),
            lambda s: s,
            snaps,
        )
        R, g, g2 = _risk_grad(theta, mu, xi, targets, method, scheme, chunk, mesh)
        first_bad = first_nonfinite(first_bad, k, R, g2)
        new = gd_step(theta, g, eta=eta)
        # freeze at the first non-finite step (the history keeps where the run broke) and at K
        keep = (first_bad < 0) & (k < steps)
        theta = jax.tree_util.tree_map(lambda a, b: jnp.where(keep, a, b), new, theta)
        return (theta, first_bad, snaps), (R, g2)

    (theta, first_bad, snaps), (R, g2) = jax.lax.scan(
        step, (theta0, jnp.array(-1), snaps0), jnp.arange(steps + 1)
    )
    t = t0 + eta * jnp.arange(steps + 1)
    snapshot_t = t0 + eta * every * jnp.arange(n_snaps)
    return TrainingHistory(theta, t, R, g2, snaps, snapshot_t, first_bad)


@partial(
    jax.jit, static_argnames=("rtol", "atol", "method", "scheme", "max_steps", "chunk", "mesh")
)
def flow_solve(theta0, mu, xi, targets, ts, *, rtol, atol, method, scheme, max_steps, chunk, mesh):
    r"""The jitted core of :func:`flow` on checked inputs (all options given): the diffrax solve
    of :math:`\dot\theta = -\mathrm{grad}_{\rm COT} R` with the energy
    :math:`\int_0^t \|\mathrm{grad} R\|^2` carried along; returns the history and diffrax's
    result code. Vmappable over runs (:func:`~mftransformer.solver.ensembles.flow_runs`)."""
    devices = (chunk, mesh)

    def rhs(t, y, args):
        theta, _ = y
        _, g, g2 = _risk_grad(theta, mu, xi, targets, method, scheme, *devices)
        return jax.tree_util.tree_map(jnp.negative, g), g2

    y0 = (theta0, jnp.zeros((), theta0.A.dtype))
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(rhs),
        diffrax.Tsit5(),
        ts[0],
        ts[-1],
        (ts[-1] - ts[0]) / 100,
        y0,
        saveat=diffrax.SaveAt(ts=ts),
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
        max_steps=max_steps,
        throw=False,
    )
    snaps, E = sol.ys
    # times the solve did not reach are filled with inf: evaluate θ⁰ there and report NaN
    reached = jnp.all(jnp.isfinite(snaps.A), axis=(1, 2, 3, 4)) & jnp.all(
        jnp.isfinite(snaps.V), axis=(1, 2, 3, 4)
    )
    safe = jax.tree_util.tree_map(
        lambda s, th: jnp.where(reached[:, None, None, None, None], s, th[None]), snaps, theta0
    )
    R, _, g2 = jax.lax.map(
        lambda th: _risk_grad(th, mu, xi, targets, method, scheme, *devices), safe
    )
    R, g2 = jnp.where(reached, R, jnp.nan), jnp.where(reached, g2, jnp.nan)
    theta = jax.tree_util.tree_map(lambda s: s[-1], snaps)
    bad = jnp.where(jnp.all(jnp.isfinite(R + g2)), -1, jnp.argmax(~jnp.isfinite(R + g2)))
    hist = TrainingHistory(
        theta, ts, R, g2, snaps, ts, bad, dissipated=E, num_steps=sol.stats["num_accepted_steps"]
    )
    return hist, sol.result


def __getattr__(name):
    # deprecated: checkpointed runs moved to the companion (they write files); forwarded until
    # experiments/gradflow.py calls mftransformer.companion.store.train_chunked itself
    if name == "train_chunked":
        import importlib

        return getattr(importlib.import_module("mftransformer.companion.store"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

r"""Independent runs as one program: over initial heads, over keys, and of the adaptive flow.

Where a chapter repeats a training run (over initialisations, or over independent keys that draw
data and heads), the runs differ only in their inputs, so they are one program batched with
``jax.vmap``: one compilation, and the runs batched inside each layer's contractions instead of a
Python loop. Each run is the same computation as :func:`~mftransformer.solver.gradflow.train` on
its own (equal to round-off; a test checks :math:`10^{-12}`).

* :func:`train_seeds` — runs from several initial heads on the same data;
* :func:`train_runs` — runs that each have their own heads and data (independent keys), in
  compiled chunks of steps, so runs of different lengths share one compilation;
* :func:`flow_runs` — the adaptive particle flow of
  :func:`~mftransformer.solver.gradflow.flow` for several runs at once.

Tracer heads carried by a reference network (chapter 3's coupling) are in :mod:`.tracers`.
"""

from functools import partial

import diffrax
import jax
import jax.numpy as jnp
import numpy as np

from .adjoint import GRADIENT_METHODS, Targets
from .errors import (
    ParameterError,
    SolveFailed,
    check_choice,
    check_positive,
    check_steps,
)
from .gradflow import DEFAULT_METHOD, TrainingHistory, flow_solve, train_scan
from .heads import Heads
from .measures import EmpiricalMeasure
from .sharding import resolve_mesh
from .streaming import resolve_chunk
from .types import Array, Float
from .validate import check_data

__all__ = [
    "stack_heads",
    "train_seeds",
    "train_runs",
    "flow_runs",
]


def stack_heads(thetas: list[Heads]) -> Heads:
    """The heads of several runs with a leading run axis: ``A, V`` float64 arrays
    (S, L, M, d, d)."""
    return stack(thetas)


def stack(items: list):
    """Pytrees of equal structure (heads, measures, targets) stacked along a new leading axis."""
    return jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *items)


def train_seeds(
    thetas0: list[Heads],
    mu: EmpiricalMeasure,
    xi: Float[Array, "B d"] | None,
    targets: Targets,
    *,
    eta: float,
    steps: int,
    snapshot_every: int | None = None,
    method: str = DEFAULT_METHOD,
    scheme: str = "euler",
    throw: bool = True,
    batch: int | None = None,
) -> TrainingHistory:
    r"""Mean-field gradient descent from each of ``thetas0`` (same data), as one vmapped program.

    .. math::

        \theta_s^{k+1} = \theta_s^k - \eta\, L M \nabla R(\theta_s^k),\qquad s = 1, \dots, S

    Args:
        thetas0: the initial heads of the :math:`S` runs (equal shapes).
        mu, xi, targets, eta, steps, snapshot_every, method, scheme: as in
            :func:`~mftransformer.solver.gradflow.train`.
        throw: raise :class:`SolveFailed` naming the first run and step that diverged.
        batch: runs per vmapped batch, the batches one after another (``jax.lax.map``); None:
            all :math:`S` in one batch. Small batches keep a wide layer's arrays in cache: on
            a 2-core CPU, 16 runs one at a time took 0.44 of the time of one batch of 16 at
            :math:`M = 512` and 1.13 of it at :math:`M = 128` (``benchmarks/ensembles.py``).
            Equal results either way.

    Raises:
        ParameterError: ``batch`` below 1.

    Returns:
        a :class:`~mftransformer.solver.gradflow.TrainingHistory` whose every field has a leading
        run axis :math:`S`.
    """
    xi = check_data("train_seeds", thetas0[0], mu, xi, targets)
    options = _options("train_seeds", thetas0[0], mu, eta, steps, snapshot_every, method, scheme)
    if batch is not None and (not isinstance(batch, int) or isinstance(batch, bool) or batch < 1):
        raise ParameterError(f"train_seeds: batch = {batch!r}; allowed None or an integer >= 1.")
    dtype = thetas0[0].A.dtype
    eta_, t0 = jnp.asarray(eta, dtype), jnp.asarray(0.0, dtype)
    batch = batch or len(thetas0)
    hist = _train_batches(stack_heads(thetas0), mu, xi, targets, eta_, t0, batch=batch, **options)
    return _raise_if_diverged("train_seeds", hist, eta, throw)


def train_runs(
    thetas0: list[Heads],
    data: list[tuple[EmpiricalMeasure, Float[Array, "B d"], Targets]],
    *,
    eta: float,
    steps: int,
    chunk: int | None = None,
    snapshot_every: int | None = None,
    method: str = DEFAULT_METHOD,
    scheme: str = "euler",
    throw: bool = True,
) -> TrainingHistory:
    r"""Mean-field gradient descent of :math:`S` runs, each with its own heads and data, as one
    vmapped program (independent keys of one experiment).

    .. math::

        \theta_s^{k+1} = \theta_s^k - \eta\, L M \nabla R_s(\theta_s^k),\qquad s = 1, \dots, S

    Args:
        thetas0: the initial heads of the runs (equal shapes).
        data: ``(mu, xi, targets)`` of each run (equal shapes; ``xi`` not None).
        eta, steps, method, scheme: as in :func:`~mftransformer.solver.gradflow.train`.
        chunk: steps per compiled call (divides ``steps``): runs of every length that is a
            multiple of it share one compilation. None: one call of ``steps`` steps.
        snapshot_every: keep the heads every this many steps (a multiple of ``chunk`` dividing
            ``steps``); None keeps the first and last only.
        throw: raise :class:`SolveFailed` naming the first run and step that diverged.

    Returns:
        a :class:`~mftransformer.solver.gradflow.TrainingHistory` whose every field has a leading
        run axis :math:`S`.

    Raises:
        ParameterError: no runs, a ``chunk`` that does not divide ``steps``, or a
            ``snapshot_every`` that is not a multiple of it.
    """
    if len(thetas0) < 1 or len(thetas0) != len(data):
        raise ParameterError(
            f"train_runs: {len(thetas0)} initial heads and {len(data)} data sets; allowed equal "
            "numbers, at least one."
        )
    for mu, xi, targets in data:
        check_data("train_runs", thetas0[0], mu, xi, targets)
    chunk = steps if chunk is None else chunk
    every = steps if snapshot_every is None else snapshot_every
    if not isinstance(chunk, int) or chunk < 1 or steps % chunk or every % chunk:
        raise ParameterError(
            f"train_runs: chunk = {chunk!r} with steps = {steps} and snapshot_every = {every}; "
            "allowed a positive divisor of steps that also divides snapshot_every."
        )
    check_steps("train_runs", steps, snapshot_every)
    mu0 = data[0][0]
    options = _options("train_runs", thetas0[0], mu0, eta, chunk, None, method, scheme)
    dtype = thetas0[0].A.dtype
    eta_ = jnp.asarray(eta, dtype)
    run = jax.vmap(lambda th, mu, xi, tg, t0: train_scan(th, mu, xi, tg, eta_, t0, **options))
    mus, xis, tgs = (
        stack([d[0] for d in data]),
        stack([d[1] for d in data]),
        stack([d[2] for d in data]),
    )
    theta, parts, snaps, bad = stack_heads(thetas0), [], [], None
    for c in range(steps // chunk):
        t0 = jnp.full((len(thetas0),), c * chunk * eta, dtype)
        if (c * chunk) % every == 0:
            snaps.append(theta)
        h = run(theta, mus, xis, tgs, t0)
        parts.append(h)
        theta = h.theta
        b = np.asarray(h.first_bad_step)
        bad = _merge_bad(bad, b, c * chunk)
    snaps.append(theta)
    hist = _stitch(parts, snaps, eta, every, bad, dtype)
    return _raise_if_diverged("train_runs", hist, eta, throw)


def flow_runs(
    thetas0: list[Heads],
    data: list[tuple[EmpiricalMeasure, Float[Array, "B d"], Targets]],
    *,
    T: float,
    n_save: int = 51,
    rtol: float = 1e-8,
    max_steps: int = 100_000,
    throw: bool = True,
) -> TrainingHistory:
    r"""The particle flow :math:`\dot\theta = -LM\nabla R_s(\theta)` of :math:`S` runs on
    :math:`[0, T]`, one adaptive diffrax solve each, vmapped (each run keeps its own steps).

    Args:
        thetas0, data: as in :func:`train_runs`.
        T, n_save, max_steps: as in :func:`~mftransformer.solver.gradflow.flow`.
        rtol: relative and absolute tolerance of the step-size controller.
        throw: raise :class:`SolveFailed` naming the first run whose solve failed.

    Returns:
        a :class:`~mftransformer.solver.gradflow.TrainingHistory` with a leading run axis, with
        ``dissipated`` and ``num_steps``.
    """
    if len(thetas0) < 1 or len(thetas0) != len(data):
        raise ParameterError(
            f"flow_runs: {len(thetas0)} initial heads and {len(data)} data sets; allowed equal "
            "numbers, at least one."
        )
    for mu, xi, targets in data:
        check_data("flow_runs", thetas0[0], mu, xi, targets)
    check_positive("flow_runs", "T", T)
    check_positive("flow_runs", "rtol", rtol)
    if not isinstance(n_save, int) or n_save < 2:
        raise ParameterError(f"flow_runs: n_save = {n_save!r}; allowed integer >= 2.")
    ts = jnp.linspace(0.0, T, n_save, dtype=thetas0[0].A.dtype)
    mu0 = data[0][0]
    options = {"rtol": rtol, "atol": rtol, "method": DEFAULT_METHOD, "scheme": "euler"}
    options |= {"max_steps": max_steps, "chunk": resolve_chunk(None, mu0.n, "flow_runs")}
    options["mesh"] = resolve_mesh("off", mu0.B, thetas0[0].M, "flow_runs")
    solve = jax.vmap(lambda th, mu, xi, tg: flow_solve(th, mu, xi, tg, ts, **options))
    stacked = [stack([d[i] for d in data]) for i in range(3)]
    hist, result = solve(stack_heads(thetas0), *stacked)
    failed = ~np.asarray(result == diffrax.RESULTS.successful)
    if throw and np.any(failed):
        raise SolveFailed(
            f"flow_runs: the diffrax solve of run {int(np.argmax(failed))} on [0, {T}] failed. "
            "Lower T, raise max_steps, or check the learning problem for divergence."
        )
    return hist


# ---------------------------------------------------------------- private
def _options(where, theta0, mu, eta, steps, snapshot_every, method, scheme):
    check_positive(where, "eta", eta)
    check_steps(where, steps, snapshot_every)
    check_choice(where, "method", method, GRADIENT_METHODS)
    return {
        "steps": steps,
        "every": steps if snapshot_every is None else snapshot_every,
        "method": method,
        "scheme": scheme,
        "chunk": resolve_chunk(None, mu.n, where),
        "mesh": resolve_mesh("off", mu.B, theta0.M, where),
    }


@partial(jax.jit, static_argnames=("batch", "steps", "every", "method", "scheme", "chunk", "mesh"))
def _train_batches(thetas, mu, xi, targets, eta, t0, *, batch, **options):
    """:func:`train_scan` over the leading run axis of ``thetas``, ``batch`` runs vmapped at a
    time (one compilation per shape and options)."""
    run = partial(train_scan, mu=mu, xi=xi, targets=targets, eta=eta, t0=t0, **options)
    return jax.lax.map(run, thetas, batch_size=batch)


def _raise_if_diverged(where, hist, eta, throw):
    bad = np.asarray(hist.first_bad_step)
    if throw and np.any(bad >= 0):
        s = int(np.argmax(bad >= 0))
        raise SolveFailed(
            f"{where}: run {s} became non-finite at step {int(bad[s])}; lower the learning "
            f"rate eta = {eta}."
        )
    return hist


def _merge_bad(bad, b, offset):
    """First non-finite step per run over chunks (−1 if none), in steps of the whole run."""
    b = np.where(b >= 0, b + offset, -1)
    return b if bad is None else np.where(bad >= 0, bad, b)


def _stitch(parts, snaps, eta, every, bad, dtype):
    """One history from consecutive chunks (each chunk's last entry is the next one's first)."""
    R = jnp.concatenate([p.R[:, :-1] for p in parts] + [parts[-1].R[:, -1:]], axis=1)
    g2 = jnp.concatenate([p.g2[:, :-1] for p in parts] + [parts[-1].g2[:, -1:]], axis=1)
    K = R.shape[1] - 1
    t = jnp.broadcast_to(eta * jnp.arange(K + 1, dtype=dtype), R.shape)
    snapshots = jax.tree_util.tree_map(lambda *s: jnp.stack(s, axis=1), *snaps)
    n_snaps = len(snaps)
    snapshot_t = jnp.broadcast_to(
        eta * every * jnp.arange(n_snaps, dtype=dtype), (R.shape[0], n_snaps)
    )
    return TrainingHistory(parts[-1].theta, t, R, g2, snapshots, snapshot_t, jnp.asarray(bad))

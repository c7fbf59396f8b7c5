"""Independent runs over seeds as one program: ``jax.vmap`` over a leading seed axis.

Where a chapter averages over initialisations (the mean-field spread of chapter 3), the runs
differ only in their initial heads, so they are one program batched with ``jax.vmap``: one
compilation, and the seeds batched inside each layer's contractions instead of a Python loop.
Each run is the same computation as :func:`~mftransformer.solver.gradflow.train` on its own
(equal to round-off; a test checks 1e-12).
"""

import jax
import jax.numpy as jnp
import numpy as np

from .adjoint import GRADIENT_METHODS, Targets
from .errors import SolveFailed, check_choice, check_positive, check_steps
from .gradflow import DEFAULT_METHOD, TrainingHistory, train_scan
from .heads import Heads
from .measures import EmpiricalMeasure
from .sharding import resolve_mesh
from .streaming import resolve_chunk
from .types import Array, Float
from .validate import check_data

__all__ = ["stack_heads", "train_seeds"]


def stack_heads(thetas: list[Heads]) -> Heads:
    """The heads of several runs with a leading run axis: ``A, V`` of shape ``(S, L, M, d, d)``."""
    return jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *thetas)


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
) -> TrainingHistory:
    """Mean-field gradient descent from each of ``thetas0`` (same data), as one vmapped program.

    .. math::

        \\theta_s^{k+1} = \\theta_s^k - \\eta\\, L M \\nabla R(\\theta_s^k),\\qquad s = 1..S

    Args:
        thetas0: the initial heads of the ``S`` runs (equal shapes).
        mu, xi, targets, eta, steps, snapshot_every, method, scheme: as in
            :func:`~mftransformer.solver.gradflow.train`.
        throw: raise :class:`SolveFailed` naming the first run and step that diverged.

    Returns:
        a :class:`~mftransformer.solver.gradflow.TrainingHistory` whose every field has a leading
        run axis ``S``.
    """
    xi = check_data("train_seeds", thetas0[0], mu, xi, targets)
    check_positive("train_seeds", "eta", eta)
    check_steps("train_seeds", steps, snapshot_every)
    check_choice("train_seeds", "method", method, GRADIENT_METHODS)
    every = steps if snapshot_every is None else snapshot_every
    options = {
        "steps": steps,
        "every": every,
        "method": method,
        "scheme": scheme,
        "chunk": resolve_chunk(None, mu.n, "train_seeds"),
        "mesh": resolve_mesh("off", mu.B, thetas0[0].M, "train_seeds"),
    }
    dtype = thetas0[0].A.dtype
    eta_, t0 = jnp.asarray(eta, dtype), jnp.asarray(0.0, dtype)
    hist = jax.vmap(lambda th: train_scan(th, mu, xi, targets, eta_, t0, **options))(
        stack_heads(thetas0)
    )
    bad = np.asarray(hist.first_bad_step)
    if throw and np.any(bad >= 0):
        s = int(np.argmax(bad >= 0))
        raise SolveFailed(
            f"train_seeds: run {s} became non-finite at step {int(bad[s])}; lower the learning "
            f"rate eta = {eta}."
        )
    return hist

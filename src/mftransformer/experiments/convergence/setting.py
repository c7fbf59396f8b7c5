"""Chapter 5 settings and run analysis: data, silent heads and small-loss labels from an
experiment's key; snapshots, residuals and fitted rates of a training run."""

import jax
import jax.numpy as jnp
import numpy as np

from ...solver import diagnostics, families, tasks
from ...solver.attention import Heads
from ...solver.errors import ParameterError
from ...solver.measures import sample_cloud

__all__ = [
    "DATA",
    "HEADS",
    "NOISE",
    "query_readout",
    "data",
    "task",
    "stall_task",
    "every",
    "residual",
    "index",
    "unstack",
    "fit_line",
    "fit_rate",
    "sync_distances",
    "lip_hat",
]

# Role tags folded into an experiment's key (STYLE.md §7): fixed integers, never reused.
DATA, HEADS, NOISE = 0, 1, 2


def query_readout(p, N, d, where):
    """The common query ``ξ_0`` for ``N`` inputs and the readout ``W`` of a section."""
    if len(p.xi0) != d or len(p.W) != d:
        raise ParameterError(
            f"{where}: xi0 has {len(p.xi0)} and W has {len(p.W)} entries; allowed d = {d} each."
        )
    xi = jnp.tile(jnp.asarray(p.xi0, float), (N, 1))
    return xi, jnp.asarray(p.W, float)[None, :]


def data(p, key):
    """Contexts, queries and readout from the experiment key."""
    mu = sample_cloud(jax.random.fold_in(key, DATA), p.N, p.n, p.d, p.scale)
    xi, W = query_readout(p, p.N, p.d, type(p).__name__)
    return mu, xi, W


def task(p, key, eps):
    """Data, silent heads and small-loss labels ``Y(ν_0) + ε ζ`` from the experiment key."""
    mu, xi, W = data(p, key)
    theta0 = tasks.silent_init(
        p.L, p.M, p.d, key=jax.random.fold_in(key, HEADS), sigma_A=p.sigma_A, sigma_V=p.sigma_V
    )
    targets = tasks.small_loss_targets(
        theta0, mu, xi, W, eps=float(eps), key=jax.random.fold_in(key, NOISE)
    )
    return mu, xi, W, theta0, targets


def stall_task(p, key):
    """A family whose LSEs are dependent (``p.family``), silent heads, and labels
    ``Y(ν_0) + ε (1, …, 1)``: the family, contexts, queries, readout, heads and targets."""
    fam = families.family(p.family, key=jax.random.fold_in(key, DATA))
    mu = families.stack(fam.laws)
    N, d = mu.B, mu.d
    xi, W = query_readout(p, N, d, "stall")
    theta0 = tasks.silent_init(
        p.L, p.M, d, key=jax.random.fold_in(key, HEADS), sigma_A=p.sigma_A, sigma_V=p.sigma_V
    )
    targets = tasks.small_loss_targets(theta0, mu, xi, W, eps=p.eps, zeta=jnp.ones((N, 1)))
    return fam, mu, xi, W, theta0, targets


def every(steps, snapshots, where):
    """Steps between snapshots (``snapshots`` must divide ``steps``)."""
    if steps % snapshots:
        raise ParameterError(
            f"{where}: snapshots = {snapshots}; allowed a divisor of steps = {steps}."
        )
    return steps // snapshots


def residual(theta, mu, xi, targets):
    """``r = Y(ν) − y``, flattened ``(N d_out,)``."""
    return np.asarray(tasks.readout(theta, mu, xi, targets.W) - targets.y).reshape(-1)


def index(tree, i):
    """Entry ``i`` of the leading axis of every leaf."""
    return jax.tree_util.tree_map(lambda a: a[i], tree)


def unstack(snapshots: Heads):
    """Stacked head snapshots as a list of :class:`Heads`."""
    return [index(snapshots, i) for i in range(snapshots.A.shape[0])]


def fit_line(t, R):
    """The least-squares line of ``log R`` against ``t``, evaluated at ``t``."""
    slope, intercept = np.polyfit(t, np.log(R), 1)
    return slope * t + intercept


def fit_rate(t, R) -> float:
    """Least-squares rate ``−d log R / dt`` (NaN with fewer than two points)."""
    if t.size < 2:
        return float("nan")
    return float(-np.polyfit(t, np.log(R), 1)[0])


def sync_distances(snapshots: Heads, theta0: Heads):
    """``D_sync(θ^t, θ^0)`` at every snapshot (``solver.diagnostics.sync_distance``)."""
    return np.array([float(diagnostics.sync_distance(th, theta0)) for th in unstack(snapshots)])


def lip_hat(lam_t, lam0, D) -> float:
    """``max_t |λ_min(K(ν^t)) − λ_0| / D_sync(t)``: a lower estimate of ``Lip_K``."""
    moved = D > 0
    return float(np.max(np.abs(lam_t[moved] - lam0) / D[moved])) if moved.any() else 0.0

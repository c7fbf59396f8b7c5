"""Chapter 5 settings and run analysis: data, silent heads and small-loss labels from an
experiment's key; the same over independent keys, trained together under ``jax.vmap``;
snapshots, residuals, distances and fitted rates of a training run."""

import jax
import jax.numpy as jnp
import numpy as np

from ...solver import diagnostics, distances, families, ntk, tasks
from ...solver.attention import Heads
from ...solver.errors import ParameterError, SolveFailed, check_positive, check_steps
from ...solver.gradflow import DEFAULT_METHOD, train_scan
from ...solver.measures import sample_cloud
from ...solver.sharding import resolve_mesh
from ...solver.streaming import resolve_chunk
from ...solver.validate import check_data

__all__ = [
    "DATA",
    "HEADS",
    "NOISE",
    "query_readout",
    "data",
    "task",
    "stall_task",
    "repetition_keys",
    "stack",
    "train_batch",
    "every",
    "residual",
    "index",
    "unstack",
    "fit_line",
    "fit_rate",
    "sync_distances",
    "cot_distances",
    "lam_min_along",
    "lip_hat",
    "indicative_threshold",
]

# Role tags folded into an experiment's key (STYLE.md §7): fixed integers, never reused.
DATA, HEADS, NOISE = 0, 1, 2


def query_readout(p, N, d, where):
    r"""The common query :math:`\xi_0` for :math:`N` inputs and the readout :math:`W` of a
    section."""
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
    r"""Data, silent heads and small-loss labels :math:`Y(\nu_0) + \varepsilon \zeta` from the
    experiment key."""
    mu, xi, W = data(p, key)
    theta0 = tasks.silent_init(
        p.L, p.M, p.d, key=jax.random.fold_in(key, HEADS), sigma_A=p.sigma_A, sigma_V=p.sigma_V
    )
    targets = tasks.small_loss_targets(
        theta0, mu, xi, W, eps=float(eps), key=jax.random.fold_in(key, NOISE)
    )
    return mu, xi, W, theta0, targets


def stall_task(p, key):
    r"""A family whose LSEs are dependent (``p.family``), silent heads, and labels
    :math:`Y(\nu_0) + \varepsilon (1, \dots, 1)`: the family, contexts, queries, readout, heads
    and targets."""
    fam = families.family(p.family, key=jax.random.fold_in(key, DATA))
    mu = families.stack(fam.laws)
    N, d = mu.B, mu.d
    xi, W = query_readout(p, N, d, "stall")
    theta0 = tasks.silent_init(
        p.L, p.M, d, key=jax.random.fold_in(key, HEADS), sigma_A=p.sigma_A, sigma_V=p.sigma_V
    )
    targets = tasks.small_loss_targets(theta0, mu, xi, W, eps=p.eps, zeta=jnp.ones((N, 1)))
    return fam, mu, xi, W, theta0, targets


def repetition_keys(key, keys: int):
    """The ``keys`` independent keys of a repeated experiment (``jax.random.split``): each one
    draws its own data, heads and labels through :func:`task`."""
    return list(jax.random.split(key, keys))


def stack(trees):
    """Pytrees of equal shapes (heads, contexts, targets) with a new leading run axis."""
    return jax.tree_util.tree_map(lambda *leaves: jnp.stack(leaves), *trees)


def train_batch(
    thetas0, mus, xi, targets, *, eta: float, steps: int, every: int, where: str, throw=True
):
    r"""Mean-field gradient descent of several runs as one vmapped program: run :math:`s` has its
    own heads, contexts and labels (a leading run axis on ``thetas0``, ``mus`` and ``targets``),
    the query ``xi`` float64 array (N, d) is shared.

    .. math::

        \theta_s^{k+1} = \theta_s^k - \eta\, L M \nabla R_s(\theta_s^k)

    Each run is :func:`~mftransformer.solver.gradflow.train` on its own (the same scan).

    Returns:
        a :class:`~mftransformer.solver.gradflow.TrainingHistory` with a leading run axis.

    Raises:
        SolveFailed: a run became non-finite (names the run and the step), unless ``throw`` is
            False (the history's ``first_bad_step`` then says where each run broke).
    """
    xi = check_data(where, index(thetas0, 0), index(mus, 0), xi, index(targets, 0))
    check_positive(where, "eta", eta)
    check_steps(where, steps, every)
    options = {
        "steps": steps,
        "every": every,
        "method": DEFAULT_METHOD,
        "scheme": "euler",
        "chunk": resolve_chunk(None, mus.x.shape[-2], where),
        "mesh": resolve_mesh("off", xi.shape[0], thetas0.A.shape[2], where),
    }
    eta_, t0 = jnp.asarray(eta, float), jnp.asarray(0.0, float)
    hist = jax.vmap(lambda th, mu, tg: train_scan(th, mu, xi, tg, eta_, t0, **options))(
        thetas0, mus, targets
    )
    bad = np.asarray(hist.first_bad_step)
    if throw and np.any(bad >= 0):
        s = int(np.argmax(bad >= 0))
        raise SolveFailed(
            f"{where}: run {s} became non-finite at step {int(bad[s])}; lower the learning rate "
            f"eta = {eta}."
        )
    return hist


def every(steps, snapshots, where):
    """Steps between snapshots (``snapshots`` must divide ``steps``)."""
    if steps % snapshots:
        raise ParameterError(
            f"{where}: snapshots = {snapshots}; allowed a divisor of steps = {steps}."
        )
    return steps // snapshots


def residual(theta, mu, xi, targets):
    r""":math:`r = Y(\nu) - y`, flattened, float64 array (N d_out,)."""
    return np.asarray(tasks.readout(theta, mu, xi, targets.W) - targets.y).reshape(-1)


def index(tree, i):
    """Entry ``i`` of the leading axis of every leaf."""
    return jax.tree_util.tree_map(lambda a: a[i], tree)


def unstack(snapshots: Heads):
    """Stacked head snapshots as a list of :class:`Heads`."""
    return [index(snapshots, i) for i in range(snapshots.A.shape[0])]


def fit_line(t, R):
    r"""The least-squares line of :math:`\log R` against :math:`t`, evaluated at ``t``."""
    slope, intercept = np.polyfit(t, np.log(R), 1)
    return slope * t + intercept


def fit_rate(t, R) -> float:
    r"""Least-squares rate :math:`-d \log R / dt` (NaN with fewer than two points)."""
    if t.size < 2:
        return float("nan")
    return float(-np.polyfit(t, np.log(R), 1)[0])


def sync_distances(snapshots: Heads, theta0: Heads):
    r""":math:`D_{\rm sync}(\theta^t, \theta^0)` at every snapshot
    (``solver.diagnostics.sync_distance``)."""
    return np.array([float(diagnostics.sync_distance(th, theta0)) for th in unstack(snapshots)])


def cot_distances(snapshots: Heads, theta0: Heads):
    r""":math:`W_{\rm COT}(\nu^t, \nu_0)` at every snapshot, by optimal assignment of the heads
    layer by layer (:func:`~mftransformer.solver.distances.w_cot`); at most
    :func:`sync_distances`."""
    return np.array([distances.w_cot(th, theta0) for th in unstack(snapshots)])


def lam_min_along(snapshots: Heads, mu, xi, W):
    r""":math:`\lambda_{\min}(\mathbf K(\nu^t))` at every snapshot (the NTK from JAX
    derivatives, :func:`~mftransformer.solver.ntk.ntk_jacobian`)."""
    spectra = [ntk.spectrum(ntk.ntk_jacobian(th, mu, xi, W).K)[0] for th in unstack(snapshots)]
    return np.array(spectra)


def lip_hat(lam_t, lam0, D) -> float:
    r"""A lower estimate of :math:`\mathrm{Lip}_K` from one run:
    :math:`\max_t |\lambda_{\min}(\mathbf K(\nu^t)) - \lambda_0| / D(t)` over the snapshots that
    moved (:math:`D` the synchronous distance, or :math:`W_{\rm COT}`)."""
    moved = D > 0
    return float(np.max(np.abs(lam_t[moved] - lam0) / D[moved])) if moved.any() else 0.0


def indicative_threshold(lam0, lip, N) -> float:
    r"""The small-loss threshold :math:`\lambda_0^3/(16 N \mathrm{Lip}_K^2)` with a lower estimate
    of :math:`\mathrm{Lip}_K` (:func:`lip_hat`): an *upper* estimate of the threshold, indicative
    only (infinite when the kernel did not move)."""
    return float(lam0**3 / (16 * N * lip**2)) if lip > 0 else float("inf")

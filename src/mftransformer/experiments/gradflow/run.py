r"""Chapter 3, the COT gradient flow: the experiments (Model: risk).

Each experiment is ``fn(p, *, key) -> <What>Result`` with ``p`` its section of the parameter set;
its checks are built from the rows of :data:`.claims.CLAIMS`. Figures are in :mod:`.plots`.

- :func:`energy`: gradient descent at halving steps and the adaptive diffrax flow;
  ``dissipation_order``, ``energy_identity``, ``energy_richardson``, ``flow_energy_identity``,
  ``gd_to_flow_order``.
- :func:`meanfield`: silent initialisations with growing width; ``meanfield_spread`` (the slope
  of the spread over seeds), ``meanfield_mean``, ``meanfield_coupling`` (the
  :math:`W_{\rm COT}` distance to tracers carried by a large reference network),
  ``meanfield_independent`` (the contrast); head snapshots of the widest run.
- :func:`depth`: one smooth initial measure discretised with growing depth; ``depth_consistency``.
- :func:`stability`: flows from nearby initial measures; ``stability_lipschitz``,
  ``stability_growth``, ``stability_cot_growth``.

Rate and ratio checks run on ``p.keys`` independent keys (``jax.random.split`` of the
experiment's key; each key draws its own data and heads) batched with ``jax.vmap``
(:mod:`~mftransformer.solver.ensembles`); they pass on the median with every key inside the
claim's key band. The figures show the first key.
"""

import jax
import jax.numpy as jnp
import numpy as np

from ...solver import diagnostics, tasks
from ...solver.adjoint import Targets
from ...solver.attention import Heads
from ...solver.distances import w_cot
from ...solver.ensembles import flow_runs, train_runs, train_seeds
from ...solver.measures import sample_cloud
from ...solver.tracers import train_tracers
from ..checks import Checks, Result, experiment, fit_loglog, result_type
from .claims import CLAIMS
from .params import DepthParams, EnergyParams, MeanfieldParams, StabilityParams

__all__ = [
    "CHUNK",
    "task",
    "energy",
    "EnergyResult",
    "meanfield",
    "MeanfieldResult",
    "depth",
    "DepthResult",
    "stability",
    "StabilityResult",
]

# Role tags folded into an experiment's key (STYLE.md §7): fixed integers, never reused.
DATA, HEADS, LABELS, DIRECTIONS, REFERENCE = 0, 1, 2, 3, 4
#: Steps per compiled chunk of gradient descent (runs of every length share one compilation).
CHUNK = 50


@result_type
class EnergyResult(Result):
    etas: np.ndarray  # steps, decreasing
    one_minus_rho: np.ndarray  # 1 − ρ_0 per eta (first key)
    defect: np.ndarray  # relative trapezoid defect d(eta) (first key)
    defect_left: np.ndarray  # the same, left Riemann sums (first key)
    gap: np.ndarray  # max_t |R_eta − R_flow| per eta (first key)
    flow_residual: np.ndarray  # |R(0) − R(T) − E(T)| / (R(0) − R(T)) of the adaptive flow, per key
    flow_steps: np.ndarray  # accepted steps of the adaptive flow, per key
    R0: np.ndarray  # per key
    slopes: np.ndarray  # (keys, 3): slopes of 1 − ρ_0, |d| and the gap to the flow
    richardson: np.ndarray  # per key


@result_type
class MeanfieldResult(Result):
    Ms: np.ndarray
    R_T_mean: np.ndarray  # mean over seeds of R(T) per width
    R_T_std: np.ndarray
    spread: np.ndarray  # (keys, widths): std over each key's seeds of R(T)
    spread_slopes: np.ndarray  # per key: log-log slope of the spread against M
    spread_slope_se: np.ndarray  # its standard error from the sampling error of the stds
    mean_gap: np.ndarray  # max_t |mean_{M_-2} − mean_{M_max}| / mean_{M_max}
    coupling: np.ndarray  # (keys, widths): W_COT(ν^T_M, tracers^T)
    coupling_slopes: np.ndarray  # per key
    independent: np.ndarray  # (pairs, widths): W_COT between two independent runs at T
    independent_slope: np.ndarray
    R0: np.ndarray


@result_type
class DepthResult(Result):
    Ls: np.ndarray
    diffs: np.ndarray  # (keys, depths − 1): max_t |R_{2L} − R_L|
    slopes: np.ndarray  # per key


@result_type
class StabilityResult(Result):
    deltas: np.ndarray
    ratio_T: np.ndarray  # (keys, deltas): D_sync(T)/D_sync(0)
    cot_ratio_T: np.ndarray  # (keys, deltas): W_COT(T)/W_COT(0)
    agree: np.ndarray  # per key: max relative disagreement of D(t)/D(0) across deltas
    growth: np.ndarray  # per key: max_delta D(T)/D(0)
    cot_growth: np.ndarray  # per key: max_delta W_COT(T)/W_COT(0)
    cot_vs_sync: np.ndarray  # per key: max_t,delta |W_COT / D_sync − 1|
    rate: np.ndarray  # first key: max_t log(D(t)/D(0)) / t


# ---------------------------------------------------------------- experiments
@experiment
def energy(p: EnergyParams, *, key) -> EnergyResult:
    r"""Energy identity :math:`dR/dt = -\|g\|^2`: one-step ratio :math:`\rho_0`, integrated defect
    :math:`d(\eta)`, on ``p.keys`` independent keys (data and heads of their own)."""
    keys = jax.random.split(key, p.keys)
    data = [task(k, p.d, p.n, p.N, noise=None) for k in keys]
    thetas0 = [
        tasks.generic_init(
            p.L, p.M, p.d, key=jax.random.fold_in(k, HEADS), sigma_A=p.sigma, sigma_V=p.sigma
        )
        for k in keys
    ]
    etas = np.array(sorted(p.etas, reverse=True))
    runs = [train_runs(thetas0, data, eta=eta, steps=_steps(p.T, eta), chunk=CHUNK) for eta in etas]
    # save the flow at multiples of the largest step: every save time is a step of every run
    fl = flow_runs(thetas0, data, T=p.T, n_save=_steps(p.T, etas[0], 1) + 1, rtol=p.rtol)
    R_flow, E_flow = np.asarray(fl.R), np.asarray(fl.dissipated)  # (keys, saves)
    per_key = [_energy_rates(runs, etas, R_flow[s], s) for s in range(p.keys)]
    one_minus_rho, defect, defect_left, gap = per_key[0][:4]
    slopes = np.array([r[4] for r in per_key])
    richardson = np.array([r[5] for r in per_key])
    flow_residual = np.abs(R_flow[:, 0] - R_flow[:, -1] - E_flow[:, -1]) / (
        R_flow[:, 0] - R_flow[:, -1]
    )
    check = Checks(
        (
            CLAIMS["dissipation_order"].check_keys(slopes[:, 0]),
            CLAIMS["energy_identity"].check_keys(slopes[:, 1]),
            CLAIMS["energy_richardson"].check_keys(richardson),
            CLAIMS["flow_energy_identity"].check_keys(flow_residual),
            CLAIMS["gd_to_flow_order"].check_keys(slopes[:, 2]),
        )
    )
    values = {
        "etas": etas,
        "one_minus_rho": one_minus_rho,
        "defect": defect,
        "defect_left": defect_left,
        "gap": gap,
        "flow_residual": flow_residual,
        "flow_steps": np.asarray(fl.num_steps),
        "R0": R_flow[:, 0],
        "slopes": slopes,
        "richardson": richardson,
    }
    data = _energy_data(values, fl, runs)
    return EnergyResult(**values, data=data, check=check)


@experiment
def meanfield(p: MeanfieldParams, *, key) -> MeanfieldResult:
    r"""Width :math:`M` heads per layer from silent initialisations: the spread of :math:`R(T)`
    over ``p.seeds`` seeds against :math:`M`, on each of ``p.keys`` disjoint sets of seeds, the
    mean curves, and the :math:`W_{\rm COT}` distance of each network to tracers started at its
    initial heads and carried by a reference network of ``M_ref`` heads."""
    mu, xi, targets = task(key, p.d, p.n, p.N, noise=p.noise)
    k_heads = jax.random.fold_in(key, HEADS)
    every = p.steps // (p.snapshots - 1)
    curves, finals, firsts, spreads, snaps, snap_t = [], [], [], [], None, None
    for M in p.Ms:  # the seeds of one width: one program (solver.ensembles)
        thetas0 = [
            _silent(p, M, jax.random.fold_in(jax.random.fold_in(k_heads, M), s))
            for s in range(p.keys * p.seeds)
        ]
        options = {"eta": p.eta, "steps": p.steps, "batch": p.batch or None}
        first = thetas0[: p.seeds]  # the first key: snapshots, curves, tracers
        h = train_seeds(first, mu, xi, targets, snapshot_every=every, **options)
        rest = train_seeds(thetas0[p.seeds :], mu, xi, targets, **options)
        if M == p.Ms[-1]:  # the heads of the first seed at the largest width
            snaps = (np.asarray(h.snapshots.A[0]), np.asarray(h.snapshots.V[0]))
            snap_t = np.asarray(h.snapshot_t[0])
        curves.append(np.asarray(h.R))
        R_T = np.concatenate([np.asarray(h.R[:, -1]), np.asarray(rest.R[:, -1])])
        spreads.append(R_T.reshape(p.keys, p.seeds).std(1, ddof=1))
        finals.append(h.theta)
        firsts.append(first[: p.keys])
    R = np.stack(curves)  # (widths, seeds of the first key, steps + 1)
    t = p.eta * np.arange(p.steps + 1)
    mean, std = R.mean(1), R.std(1, ddof=1)
    Ms = np.array(p.Ms)
    spread = np.stack(spreads, axis=1)  # (keys, widths): std over each key's seeds of R(T)
    spread_slopes = np.array([fit_loglog(Ms, s).slope for s in spread])
    spread_se = _spread_slope_se(Ms, p.seeds)
    i128 = len(p.Ms) - 2
    mean_gap = np.max(np.abs(mean[i128] - mean[-1]) / mean[-1])
    ref = _silent(p, p.M_ref, jax.random.fold_in(key, REFERENCE))
    coupled = _coupling(p, ref, firsts, finals, (mu, xi, targets))
    coupling, R_ref = coupled
    coupling_slopes = np.array([fit_loglog(Ms, c).slope for c in coupling])
    independent = _independent(finals, p.seeds)
    independent_slope = fit_loglog(Ms, independent.mean(0)).slope
    check = Checks(
        (
            CLAIMS["meanfield_spread"].check_keys(spread_slopes),
            CLAIMS["meanfield_mean"].check(mean_gap),
            CLAIMS["meanfield_coupling"].check_keys(coupling_slopes),
            CLAIMS["meanfield_independent"].check(independent_slope),
        )
    )
    values = {
        "Ms": Ms,
        "R_T_mean": mean[:, -1],
        "R_T_std": std[:, -1],
        "spread": spread,
        "spread_slopes": spread_slopes,
        "spread_slope_se": np.array(spread_se),
        "mean_gap": np.array(mean_gap),
        "coupling": coupling,
        "coupling_slopes": coupling_slopes,
        "independent": independent,
        "independent_slope": np.array(independent_slope),
        "R0": np.array(R[0, 0, 0]),
    }
    data = {
        "t": t,
        "Ms": Ms,
        "mean": mean,
        "std": std,
        "spread": spread,
        "R_ref": R_ref,
        "M_ref": np.array(p.M_ref),
        "coupling": coupling,
        "independent": independent,
        "snap_A": snaps[0],
        "snap_V": snaps[1],
        "snap_t": snap_t,
    }
    return MeanfieldResult(**values, data=data, check=check)


@experiment
def depth(p: DepthParams, *, key) -> DepthResult:
    r"""One smooth initial :math:`\nu_s` discretised at depths :math:`L`:
    :math:`\max_t |R_{2L} - R_L|` falls like :math:`1/L`, on ``p.keys`` independent keys."""
    keys = jax.random.split(key, p.keys)
    data = [task(k, p.d, p.n, p.N, noise=None) for k in keys]
    smooth = [
        tasks.smooth_heads(p.M, p.d, key=jax.random.fold_in(k, HEADS), scale=p.scale) for k in keys
    ]
    R = np.stack(
        [
            np.asarray(
                train_runs([s.discretise(L) for s in smooth], data, eta=p.eta, steps=p.steps).R
            )
            for L in p.Ls
        ],
        axis=1,
    )  # (keys, depths, steps + 1)
    diffs = np.max(np.abs(R[:, 1:] - R[:, :-1]), axis=2)
    Ls = np.array(p.Ls)
    slopes = np.array([fit_loglog(Ls[:-1], dk).slope for dk in diffs])
    check = CLAIMS["depth_consistency"].check_keys(slopes)
    values = {"Ls": Ls, "diffs": diffs, "slopes": slopes}
    data = {"t": p.eta * np.arange(p.steps + 1), "Ls": Ls, "R": R[0], "diffs": diffs[0]}
    return DepthResult(**values, data=data, check=check)


@experiment
def stability(p: StabilityParams, *, key) -> StabilityResult:
    r"""Flows from :math:`\theta^0` and :math:`\theta^0 + \delta u` (:math:`D_{\rm sync}(u) = 1`),
    on ``p.keys`` independent keys: :math:`D(t)/D(0)`, in the synchronous distance and in
    :math:`W_{\rm COT}` (optimal assignment per layer), is the same for every small
    :math:`\delta` and stays bounded
    (:math:`W_{\rm COT}(t) \le e^{Ct}\, W_{\rm COT}(0)`)."""
    keys = jax.random.split(key, p.keys)
    thetas, data = [], []
    for k in keys:
        d_k = task(k, p.d, p.n, p.N, noise=None)
        theta0 = tasks.generic_init(
            p.L, p.M, p.d, key=jax.random.fold_in(k, HEADS), sigma_A=p.sigma, sigma_V=p.sigma
        )
        u = _unit_direction(jax.random.fold_in(k, DIRECTIONS), theta0)
        thetas += [theta0] + [
            jax.tree_util.tree_map(lambda a, b, dl=dl: a + dl * b, theta0, u) for dl in p.deltas
        ]
        data += [d_k] * (1 + len(p.deltas))
    h = train_runs(thetas, data, eta=p.eta, steps=p.steps, chunk=CHUNK, snapshot_every=CHUNK)
    runs = 1 + len(p.deltas)
    snaps = jax.tree_util.tree_map(
        lambda v: np.asarray(v).reshape(p.keys, runs, *v.shape[1:]), h.snapshots
    )  # (keys, runs, snapshots, L, M, d, d)
    deltas = np.array(p.deltas)
    sync = _sync_distances(snaps)  # (keys, deltas, snapshots)
    cot = _cot_distances(snaps)  # (keys, deltas, snapshots)
    ratios = sync / deltas[None, :, None]
    cot_ratios = cot / cot[:, :, :1]
    agree = np.max(np.abs(ratios / ratios[:, -1:] - 1), axis=(1, 2))
    growth = ratios[:, :, -1].max(1)
    cot_growth = cot_ratios[:, :, -1].max(1)
    cot_vs_sync = np.max(np.abs(cot / sync - 1), axis=(1, 2))
    t = np.asarray(h.snapshot_t[0])
    rate = np.max(np.log(ratios[0][:, 1:]) / t[1:])
    check = Checks(
        (
            CLAIMS["stability_lipschitz"].check_keys(agree),
            CLAIMS["stability_growth"].check_keys(growth),
            CLAIMS["stability_cot_growth"].check_keys(cot_growth),
        )
    )
    values = {
        "deltas": deltas,
        "ratio_T": ratios[:, :, -1],
        "cot_ratio_T": cot_ratios[:, :, -1],
        "agree": agree,
        "growth": growth,
        "cot_growth": cot_growth,
        "cot_vs_sync": cot_vs_sync,
        "rate": np.array(rate),
    }
    data = {
        "t": t,
        "deltas": deltas,
        "ratios": ratios[0],
        "cot_ratios": cot_ratios[0],
        "rate": np.array(rate),
    }
    return StabilityResult(**values, data=data, check=check)


# ---------------------------------------------------------------- task
def task(key, d, n, N, *, noise):
    r"""Contexts :math:`\mu^i` (clouds), a common query :math:`\xi_0 = (1, 0.5, 0, \dots)`,
    readout :math:`W = (1, -0.5, 0, \dots)`; labels :math:`y \sim \mathcal N(0, 1)` (noise None)
    or :math:`y = W \xi_0 + \mathrm{noise}\cdot\zeta` (small loss from silence)."""
    mu = sample_cloud(jax.random.fold_in(key, DATA), N, n, d, scale=0.8)
    e = jnp.zeros(d).at[0].set(1.0)
    xi0 = e.at[1].set(0.5)
    W = e.at[1].set(-0.5)[None, :]
    xi = jnp.tile(xi0, (N, 1))
    zeta = jax.random.normal(jax.random.fold_in(key, LABELS), (N, 1))
    y = zeta if noise is None else (xi @ W.T) + noise * zeta
    return mu, xi, Targets(W=W, y=y)


# ---------------------------------------------------------------- private
def _energy_rates(runs, etas, R_flow, s):
    r"""Key ``s``'s defects per ``eta`` and their slopes (:math:`1 - \rho_0`, :math:`|d|`, the gap
    to the flow), and the Richardson combination
    :math:`|2 d(\eta_{\min}) - d(2 \eta_{\min})|`."""
    R = [np.asarray(h.R[s]) for h in runs]
    g2 = [np.asarray(h.g2[s]) for h in runs]
    t = [np.asarray(h.t[s]) for h in runs]
    one_minus_rho = np.array(
        [
            1 - float(diagnostics.dissipation_ratio(r[0], r[1], g[0], eta))
            for r, g, eta in zip(R, g2, etas, strict=True)
        ]
    )
    defect = np.array([diagnostics.energy_defect(*v) for v in zip(t, R, g2, strict=True)])
    defect_left = np.array(
        [diagnostics.energy_defect(*v, rule="left") for v in zip(t, R, g2, strict=True)]
    )
    gap = np.array(
        [
            np.max(np.abs(r[:: int(round(etas[0] / eta))] - R_flow))
            for r, eta in zip(R, etas, strict=True)
        ]
    )
    slopes = [fit_loglog(etas, y).slope for y in (one_minus_rho, np.abs(defect), gap)]
    richardson = abs(2 * defect[-1] - defect[-2]) if etas[-2] == 2 * etas[-1] else np.inf
    return one_minus_rho, defect, defect_left, gap, slopes, richardson


def _energy_data(values, fl, runs):
    """The figure data of :func:`energy` (first key): the rates against ``eta``, the flow and
    every run."""
    return {
        **{k: values[k] for k in ("etas", "one_minus_rho", "defect", "defect_left", "gap")},
        "t_flow": np.asarray(fl.t[0]),
        "R_flow": np.asarray(fl.R[0]),
        "g2_flow": np.asarray(fl.g2[0]),
        "E_flow": np.asarray(fl.dissipated[0]),
        **{f"t_{i}": np.asarray(h.t[0]) for i, h in enumerate(runs)},
        **{f"R_{i}": np.asarray(h.R[0]) for i, h in enumerate(runs)},
        **{f"g2_{i}": np.asarray(h.g2[0]) for i, h in enumerate(runs)},
    }


def _steps(T, eta, multiple=CHUNK):
    steps = int(round(T / eta))
    if abs(steps * eta - T) > 1e-9 * T or steps % multiple:
        raise ValueError(f"energy: T/eta = {T / eta:g}; needs an integer multiple of {CHUNK}.")
    return steps


def _silent(p, M, key):
    return tasks.silent_init(p.L, M, p.d, key=key, sigma_A=p.sigma, sigma_V=p.sigma)


def _spread_slope_se(Ms, seeds):
    r"""Standard error of the fitted slope of :math:`\log \mathrm{std}` against :math:`\log M`
    when each std comes from ``seeds`` Gaussian samples:
    :math:`\mathrm{SE}(\log \mathrm{std}) \approx 1/\sqrt{2(\mathrm{seeds} - 1)}` at every width."""
    x = np.log(np.asarray(Ms, float))
    return 1 / np.sqrt(2 * (seeds - 1)) / np.sqrt(np.sum((x - x.mean()) ** 2))


def _coupling(p, ref, firsts, finals, data):
    r""":math:`W_{\rm COT}(\nu^T_M, \mathrm{tracers}^T)` for the first ``p.keys`` seeds of every
    width, the tracers started at that network's initial heads and carried by the reference's
    velocity field."""
    mu, xi, targets = data
    cat = lambda f: jnp.concatenate([f(th) for group in firsts for th in group], axis=1)  # noqa: E731
    tracers0 = Heads(cat(lambda th: th.A), cat(lambda th: th.V))
    out = train_tracers(ref, tracers0, mu, xi, targets, eta=p.eta, steps=p.steps)
    A, V = np.asarray(out.tracers.A), np.asarray(out.tracers.V)
    coupling, start = np.zeros((p.keys, len(p.Ms))), 0
    for i, M in enumerate(p.Ms):
        for s in range(p.keys):
            tr = Heads(A[:, start : start + M], V[:, start : start + M])
            net = Heads(finals[i].A[s], finals[i].V[s])
            coupling[s, i] = w_cot(net, tr)
            start += M
    return coupling, np.asarray(out.reference.R)


def _independent(finals, seeds):
    r""":math:`W_{\rm COT}` at :math:`T` between the networks of seeds :math:`2j` and
    :math:`2j + 1` (independent initial samples), shape (pairs, widths)."""
    out = np.zeros((seeds // 2, len(finals)))
    for i, th in enumerate(finals):
        for j in range(seeds // 2):
            a = Heads(th.A[2 * j], th.V[2 * j])
            b = Heads(th.A[2 * j + 1], th.V[2 * j + 1])
            out[j, i] = w_cot(a, b)
    return out


def _unit_direction(key, theta0):
    r"""A Gaussian direction :math:`u` scaled to :math:`D_{\rm sync}(u, 0) = 1`."""
    k_u = jax.random.split(key)
    u = Heads(jax.random.normal(k_u[0], theta0.A.shape), jax.random.normal(k_u[1], theta0.V.shape))
    zero = jax.tree_util.tree_map(jnp.zeros_like, u)
    return jax.tree_util.tree_map(lambda v: v / diagnostics.sync_distance(u, zero), u)


def _sync_distances(snaps):
    r""":math:`D_{\rm sync}` between each perturbed run and its key's base run at every snapshot,
    shape (keys, deltas, snapshots) (the identity assignment)."""
    A, V = np.asarray(snaps.A), np.asarray(snaps.V)
    LM = A.shape[3] * A.shape[4]
    sq = np.sum((A[:, 1:] - A[:, :1]) ** 2 + (V[:, 1:] - V[:, :1]) ** 2, axis=(-4, -3, -2, -1))
    return np.sqrt(sq / LM)


def _cot_distances(snaps):
    r""":math:`W_{\rm COT}` between each perturbed run and its key's base run at every snapshot,
    shape (keys, deltas, snapshots)."""
    K, R, S = snaps.A.shape[:3]
    out = np.zeros((K, R - 1, S))
    for k in range(K):
        for r in range(1, R):
            for t in range(S):
                a = Heads(snaps.A[k, r, t], snaps.V[k, r, t])
                b = Heads(snaps.A[k, 0, t], snaps.V[k, 0, t])
                out[k, r - 1, t] = w_cot(a, b)
    return out

"""Chapter 3, the COT gradient flow: the experiments (Model: risk).

Each experiment is ``fn(p, *, key) -> <What>Result`` with ``p`` its section of the parameter set;
its checks are built from the rows of :data:`.claims.CLAIMS`. Figures are in :mod:`.plots`.

- :func:`energy`: gradient descent at halving steps and the adaptive diffrax flow;
  ``dissipation_order``, ``energy_identity``, ``energy_richardson``, ``flow_energy_identity``,
  ``gd_to_flow_order``.
- :func:`meanfield`: silent initialisations with growing width; ``meanfield_spread``,
  ``meanfield_mean``; head snapshots of the widest run.
- :func:`depth`: one smooth initial measure discretised with growing depth; ``depth_consistency``.
- :func:`stability`: flows from nearby initial measures; ``stability_lipschitz``,
  ``stability_growth``.
"""

import jax
import jax.numpy as jnp
import numpy as np

from ...companion.store import train_chunked
from ...solver import diagnostics, tasks
from ...solver import gradflow as gf
from ...solver.adjoint import Targets
from ...solver.attention import Heads
from ...solver.ensembles import train_seeds
from ...solver.measures import sample_cloud
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
DATA, HEADS, LABELS, DIRECTIONS = 0, 1, 2, 3
#: Steps per compiled chunk of gradient descent (runs of every length share one compilation).
CHUNK = 50


@result_type
class EnergyResult(Result):
    etas: np.ndarray  # steps, decreasing
    one_minus_rho: np.ndarray  # 1 − ρ_0 per eta
    defect: np.ndarray  # relative trapezoid defect d(eta)
    defect_left: np.ndarray  # the same, left Riemann sums
    gap: np.ndarray  # max_t |R_eta − R_flow| per eta
    flow_residual: np.ndarray  # |R(0) − R(T) − E(T)| / (R(0) − R(T)) of the adaptive flow
    flow_steps: np.ndarray  # accepted steps of the adaptive flow
    R0: np.ndarray


@result_type
class MeanfieldResult(Result):
    Ms: np.ndarray
    R_T_mean: np.ndarray  # mean over seeds of R(T) per width
    R_T_std: np.ndarray
    spread: np.ndarray  # std_{M_min} / std_{M_max} of R(T)
    mean_gap: np.ndarray  # max_t |mean_{M_-2} − mean_{M_max}| / mean_{M_max}
    R0: np.ndarray


@result_type
class DepthResult(Result):
    Ls: np.ndarray
    diffs: np.ndarray  # max_t |R_{2L} − R_L|
    slope: np.ndarray


@result_type
class StabilityResult(Result):
    deltas: np.ndarray
    ratio_T: np.ndarray  # D(T)/D(0) per delta
    agree: np.ndarray  # max relative disagreement of D(t)/D(0) across deltas
    growth: np.ndarray  # max D(T)/D(0)
    rate: np.ndarray  # max_t log(D(t)/D(0)) / t


# ---------------------------------------------------------------- experiments
@experiment
def energy(p: EnergyParams, *, key) -> EnergyResult:
    """Energy identity ``dR/dt = −‖g‖²``: one-step ratio ``ρ_0``, integrated defect ``d(η)``."""
    mu, xi, targets = task(key, p.d, p.n, p.N, noise=None)
    theta0 = tasks.generic_init(
        p.L, p.M, p.d, key=jax.random.fold_in(key, HEADS), sigma_A=p.sigma, sigma_V=p.sigma
    )
    etas = np.array(sorted(p.etas, reverse=True))
    runs = [_gd(theta0, mu, xi, targets, eta, _steps(p.T, eta)) for eta in etas]
    one_minus_rho = np.array(
        [
            1 - float(diagnostics.dissipation_ratio(h.R[0], h.R[1], h.g2[0], eta))
            for h, eta in zip(runs, etas, strict=True)
        ]
    )
    defect = np.array([diagnostics.energy_defect(h.t, h.R, h.g2) for h in runs])
    defect_left = np.array([diagnostics.energy_defect(h.t, h.R, h.g2, rule="left") for h in runs])
    # save the flow at multiples of the largest step: every save time is a step of every run
    fl = gf.flow(
        theta0, mu, xi, targets, T=p.T, n_save=_steps(p.T, etas[0], 1) + 1, rtol=p.rtol, atol=p.rtol
    )
    R_flow, E_flow = np.asarray(fl.R), np.asarray(fl.dissipated)
    flow_residual = abs(R_flow[0] - R_flow[-1] - E_flow[-1]) / (R_flow[0] - R_flow[-1])
    gap = np.array(
        [
            np.max(np.abs(np.asarray(h.R)[:: int(round(etas[0] / eta))] - R_flow))
            for h, eta in zip(runs, etas, strict=True)
        ]
    )

    rho_slope = fit_loglog(etas, one_minus_rho).slope
    d_slope = fit_loglog(etas, np.abs(defect)).slope
    gap_slope = fit_loglog(etas, gap).slope
    richardson = abs(2 * defect[-1] - defect[-2]) if etas[-2] == 2 * etas[-1] else np.inf
    check = Checks(
        (
            CLAIMS["dissipation_order"].check(rho_slope),
            CLAIMS["energy_identity"].check(d_slope),
            CLAIMS["energy_richardson"].check(richardson),
            CLAIMS["flow_energy_identity"].check(flow_residual),
            CLAIMS["gd_to_flow_order"].check(gap_slope),
        )
    )
    values = {
        "etas": etas,
        "one_minus_rho": one_minus_rho,
        "defect": defect,
        "defect_left": defect_left,
        "gap": gap,
        "flow_residual": np.array(flow_residual),
        "flow_steps": np.array(int(fl.num_steps)),
        "R0": np.array(R_flow[0]),
    }
    data = _energy_data(values, fl, runs)
    return EnergyResult(**values, data=data, check=check)


@experiment
def meanfield(p: MeanfieldParams, *, key) -> MeanfieldResult:
    """Width ``M`` heads per layer from silent initialisations: spread and mean of ``R(t)``."""
    mu, xi, targets = task(key, p.d, p.n, p.N, noise=p.noise)
    k_heads = jax.random.fold_in(key, HEADS)
    every = p.steps // (p.snapshots - 1)
    curves, snaps, snap_t = [], None, None
    for M in p.Ms:  # the seeds of one width: one vmapped program (solver.ensembles)
        thetas0 = [
            tasks.silent_init(
                p.L,
                M,
                p.d,
                key=jax.random.fold_in(jax.random.fold_in(k_heads, M), s),
                sigma_A=p.sigma,
                sigma_V=p.sigma,
            )
            for s in range(p.seeds)
        ]
        h = train_seeds(thetas0, mu, xi, targets, eta=p.eta, steps=p.steps, snapshot_every=every)
        if M == p.Ms[-1]:  # the heads of the first seed at the largest width
            snaps = (np.asarray(h.snapshots.A[0]), np.asarray(h.snapshots.V[0]))
            snap_t = np.asarray(h.snapshot_t[0])
        curves.append(np.asarray(h.R))
    R = np.stack(curves)  # (widths, seeds, steps + 1)
    t = p.eta * np.arange(p.steps + 1)
    mean, std = R.mean(1), R.std(1, ddof=1)
    spread = std[0, -1] / std[-1, -1]
    i128 = len(p.Ms) - 2
    mean_gap = np.max(np.abs(mean[i128] - mean[-1]) / mean[-1])
    check = Checks(
        (
            CLAIMS["meanfield_spread"].check(spread),
            CLAIMS["meanfield_mean"].check(mean_gap),
        )
    )
    values = {
        "Ms": np.array(p.Ms),
        "R_T_mean": mean[:, -1],
        "R_T_std": std[:, -1],
        "spread": np.array(spread),
        "mean_gap": np.array(mean_gap),
        "R0": np.array(R[0, 0, 0]),
    }
    data = {
        "t": t,
        "Ms": np.array(p.Ms),
        "mean": mean,
        "std": std,
        "snap_A": snaps[0],
        "snap_V": snaps[1],
        "snap_t": snap_t,
    }
    return MeanfieldResult(**values, data=data, check=check)


@experiment
def depth(p: DepthParams, *, key) -> DepthResult:
    """One smooth initial ``ν_s`` discretised at depths ``L``: ``max_t |R_{2L} − R_L|`` falls
    like ``1/L``."""
    mu, xi, targets = task(key, p.d, p.n, p.N, noise=None)
    smooth = tasks.smooth_heads(p.M, p.d, key=jax.random.fold_in(key, HEADS), scale=p.scale)
    R = np.stack(
        [np.asarray(_gd(smooth.discretise(L), mu, xi, targets, p.eta, p.steps).R) for L in p.Ls]
    )
    diffs = np.max(np.abs(R[1:] - R[:-1]), axis=1)
    Ls = np.array(p.Ls)
    slope = fit_loglog(Ls[:-1], diffs).slope
    check = CLAIMS["depth_consistency"].check(slope)
    values = {"Ls": Ls, "diffs": diffs, "slope": np.array(slope)}
    data = {"t": p.eta * np.arange(p.steps + 1), "Ls": Ls, "R": R, "diffs": diffs}
    return DepthResult(**values, data=data, check=check)


@experiment
def stability(p: StabilityParams, *, key) -> StabilityResult:
    """Flows from ``θ⁰`` and ``θ⁰ + δu`` (``D_sync(u) = 1``): ``D(t)/D(0)`` is the same for every
    small ``δ`` and stays bounded (the Grönwall-type bound ``D(t) ≤ e^{Ct} D(0)``)."""
    mu, xi, targets = task(key, p.d, p.n, p.N, noise=None)
    theta0 = tasks.generic_init(
        p.L, p.M, p.d, key=jax.random.fold_in(key, HEADS), sigma_A=p.sigma, sigma_V=p.sigma
    )
    k_u = jax.random.split(jax.random.fold_in(key, DIRECTIONS))
    u = Heads(jax.random.normal(k_u[0], theta0.A.shape), jax.random.normal(k_u[1], theta0.V.shape))
    zero = jax.tree_util.tree_map(jnp.zeros_like, u)
    u = jax.tree_util.tree_map(lambda v: v / diagnostics.sync_distance(u, zero), u)
    every = CHUNK
    base = _gd(theta0, mu, xi, targets, p.eta, p.steps, every=every)
    ratios = []
    for delta in p.deltas:
        th = jax.tree_util.tree_map(lambda a, b, dl=delta: a + dl * b, theta0, u)
        h = _gd(th, mu, xi, targets, p.eta, p.steps, every=every)
        ratios.append(np.asarray(diagnostics.sync_distance(h.snapshots, base.snapshots)) / delta)
    ratios = np.stack(ratios)  # (deltas, snapshots)
    agree = np.max(np.abs(ratios / ratios[-1] - 1))
    growth = ratios[:, -1].max()
    rate = np.max(np.log(ratios[:, 1:]) / np.asarray(base.snapshot_t)[1:])
    check = Checks(
        (
            CLAIMS["stability_lipschitz"].check(agree),
            CLAIMS["stability_growth"].check(growth),
        )
    )
    values = {
        "deltas": np.array(p.deltas),
        "ratio_T": ratios[:, -1],
        "agree": np.array(agree),
        "growth": np.array(growth),
        "rate": np.array(rate),
    }
    data = {
        "t": np.asarray(base.snapshot_t),
        "deltas": np.array(p.deltas),
        "ratios": ratios,
        "rate": np.array(rate),
    }
    return StabilityResult(**values, data=data, check=check)


# ---------------------------------------------------------------- task
def task(key, d, n, N, *, noise):
    """Contexts ``μ^i`` (clouds), a common query ``ξ_0 = (1, .5, 0…)``, readout
    ``W = (1, −.5, 0…)``;
    labels ``y ~ N(0, 1)`` (noise None) or ``y = W ξ_0 + noise ζ`` (small loss from silence)."""
    mu = sample_cloud(jax.random.fold_in(key, DATA), N, n, d, scale=0.8)
    e = jnp.zeros(d).at[0].set(1.0)
    xi0 = e.at[1].set(0.5)
    W = e.at[1].set(-0.5)[None, :]
    xi = jnp.tile(xi0, (N, 1))
    zeta = jax.random.normal(jax.random.fold_in(key, LABELS), (N, 1))
    y = zeta if noise is None else (xi @ W.T) + noise * zeta
    return mu, xi, Targets(W=W, y=y)


# ---------------------------------------------------------------- private
def _energy_data(values, fl, runs):
    """The figure data of :func:`energy`: the rates against ``eta``, the flow and every run."""
    return {
        **{k: values[k] for k in ("etas", "one_minus_rho", "defect", "defect_left", "gap")},
        "t_flow": np.asarray(fl.t),
        "R_flow": np.asarray(fl.R),
        "g2_flow": np.asarray(fl.g2),
        "E_flow": np.asarray(fl.dissipated),
        **{f"t_{i}": np.asarray(h.t) for i, h in enumerate(runs)},
        **{f"R_{i}": np.asarray(h.R) for i, h in enumerate(runs)},
        **{f"g2_{i}": np.asarray(h.g2) for i, h in enumerate(runs)},
    }


def _steps(T, eta, multiple=CHUNK):
    steps = int(round(T / eta))
    if abs(steps * eta - T) > 1e-9 * T or steps % multiple:
        raise ValueError(f"energy: T/eta = {T / eta:g}; needs an integer multiple of {CHUNK}.")
    return steps


def _gd(theta0, mu, xi, targets, eta, steps, *, every=None):
    """Mean-field gradient descent in chunks of ``CHUNK`` steps (one compilation per shape)."""
    return train_chunked(
        theta0,
        mu,
        xi,
        targets,
        eta=eta,
        steps=steps,
        chunk=CHUNK if steps % CHUNK == 0 else steps,
        snapshot_every=every,
    )

"""Chapter 3, the COT gradient flow: experiments, checks and figures (MATH.md §4, §7).

Each experiment is ``fn(p, *, key) -> Result`` with ``p`` its section of the parameter set; the
checks are those of MATH.md §7 "Chapter 3". Figures are drawn from a result by ``plot_<what>``.

- :func:`energy`: gradient descent at halving steps and the adaptive diffrax flow;
  ``dissipation_order``, ``energy_identity``, ``energy_richardson``, ``flow_energy_identity``,
  ``gd_to_flow_order``.
- :func:`meanfield`: silent initialisations with growing width; ``meanfield_spread``,
  ``meanfield_mean``; head snapshots of the widest run.
- :func:`depth`: one smooth initial measure discretised with growing depth; ``depth_consistency``.
- :func:`stability`: flows from nearby initial measures; ``stability_lipschitz``,
  ``stability_growth``.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from ..companion.params import param
from ..solver import gradflow as gf
from ..solver import tasks
from ..solver.adjoint import Targets
from ..solver.attention import Heads
from ..solver.measures import sample_cloud
from .checks import Check, Checks, Result, experiment, fit_loglog

__all__ = [
    "Params",
    "energy",
    "meanfield",
    "depth",
    "stability",
    "plot_training",
    "plot_energy",
    "plot_meanfield",
    "plot_heads",
    "plot_depth",
    "plot_stability",
]

# Role tags folded into an experiment's key (STYLE.md §7): fixed integers, never reused.
DATA, HEADS, LABELS, DIRECTIONS = 0, 1, 2, 3
#: Steps per compiled chunk of gradient descent (runs of every length share one compilation).
CHUNK = 50


# ---------------------------------------------------------------- parameters
@dataclasses.dataclass(frozen=True)
class EnergyParams:
    d: int = param("token dimension", ge=2)
    n: int = param("tokens per context", ge=1)
    N: int = param("number of inputs (contexts)", ge=1)
    L: int = param("layers", ge=1)
    M: int = param("heads per layer", ge=1)
    sigma: float = param("generic initialisation: entries of A, V ~ N(0, sigma^2/d)", gt=0)
    T: float = param("training-time horizon", gt=0)
    etas: tuple[float, ...] = param("gradient-descent steps (T/eta a multiple of 50)", gt=0)
    rtol: float = param("relative and absolute tolerance of the adaptive flow solve", gt=0, lt=1)


@dataclasses.dataclass(frozen=True)
class MeanfieldParams:
    d: int = param("token dimension", ge=2)
    n: int = param("tokens per context", ge=1)
    N: int = param("number of inputs (contexts)", ge=1)
    L: int = param("layers", ge=1)
    Ms: tuple[int, ...] = param("widths (even: silent pairs), increasing", ge=2)
    seeds: int = param("initialisations per width", ge=2)
    sigma: float = param("silent initialisation: entries of A, V ~ N(0, sigma^2/d)", gt=0)
    noise: float = param("labels y = W xi_0 + noise * zeta", gt=0)
    eta: float = param("gradient-descent step", gt=0)
    steps: int = param("steps (a multiple of 50)", ge=50)
    snapshots: int = param(
        "head snapshots along the widest run ((snapshots - 1) * 50 divides steps)", ge=2
    )


@dataclasses.dataclass(frozen=True)
class DepthParams:
    d: int = param("token dimension", ge=2)
    n: int = param("tokens per context", ge=1)
    N: int = param("number of inputs (contexts)", ge=1)
    M: int = param("heads of the smooth initial measure nu_s", ge=1)
    scale: float = param(
        "smooth heads theta_m(s) = theta0 + sin(pi s) theta1, entries ~ N(0, scale^2)", gt=0
    )
    Ls: tuple[int, ...] = param("depths, doubling", ge=1)
    eta: float = param("gradient-descent step", gt=0)
    steps: int = param("steps (a multiple of 50)", ge=50)


@dataclasses.dataclass(frozen=True)
class StabilityParams:
    d: int = param("token dimension", ge=2)
    n: int = param("tokens per context", ge=1)
    N: int = param("number of inputs (contexts)", ge=1)
    L: int = param("layers", ge=1)
    M: int = param("heads per layer", ge=1)
    sigma: float = param("generic initialisation: entries of A, V ~ N(0, sigma^2/d)", gt=0)
    deltas: tuple[float, ...] = param("initial distances D_sync(0), decreasing", gt=0)
    eta: float = param("gradient-descent step", gt=0)
    steps: int = param("steps (a multiple of 50)", ge=50)


@dataclasses.dataclass(frozen=True)
class Params:
    seed: int = param("root of every random draw of the chapter", ge=0)
    energy: EnergyParams = param("energy dissipation along gradient descent and the flow")
    meanfield: MeanfieldParams = param("finite-width training against the mean-field limit")
    depth: DepthParams = param("finite-depth training against the depth limit")
    stability: StabilityParams = param("flows from nearby initial measures")


# ---------------------------------------------------------------- experiments
@experiment
def energy(p: EnergyParams, *, key) -> Result:
    """Energy identity ``dR/dt = −‖g‖²``: one-step ratio ``ρ_0``, integrated defect ``d(η)``."""
    mu, xi, targets = _task(key, p.d, p.n, p.N, noise=None)
    theta0 = tasks.generic_init(
        p.L, p.M, p.d, key=jax.random.fold_in(key, HEADS), sigma_A=p.sigma, sigma_V=p.sigma
    )
    etas = np.array(sorted(p.etas, reverse=True))
    runs = [_gd(theta0, mu, xi, targets, eta, _steps(p.T, eta)) for eta in etas]
    one_minus_rho = np.array(
        [
            1 - float(gf.dissipation_ratio(h.R[0], h.R[1], h.g2[0], eta))
            for h, eta in zip(runs, etas, strict=True)
        ]
    )
    defect = np.array([gf.energy_defect(h.t, h.R, h.g2) for h in runs])
    defect_left = np.array([gf.energy_defect(h.t, h.R, h.g2, rule="left") for h in runs])
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
            Check.within("dissipation_order", rho_slope, 1.0, 0.05),
            Check.within("energy_identity", d_slope, 1.0, 0.1),
            Check.below("energy_richardson", richardson, 1e-4, show_value=True, sig=1),
            Check.below("flow_energy_identity", flow_residual, 1e-6, show_value=True, sig=1),
            Check.within("gd_to_flow_order", gap_slope, 1.0, 0.1),
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
    data = {
        "etas": etas,
        "one_minus_rho": one_minus_rho,
        "defect": defect,
        "defect_left": defect_left,
        "gap": gap,
        "t_flow": np.asarray(fl.t),
        "R_flow": R_flow,
        "g2_flow": np.asarray(fl.g2),
        "E_flow": E_flow,
        **{f"t_{i}": np.asarray(h.t) for i, h in enumerate(runs)},
        **{f"R_{i}": np.asarray(h.R) for i, h in enumerate(runs)},
        **{f"g2_{i}": np.asarray(h.g2) for i, h in enumerate(runs)},
    }
    return Result(values=values, data=data, check=check)


@experiment
def meanfield(p: MeanfieldParams, *, key) -> Result:
    """Width ``M`` heads per layer from silent initialisations: spread and mean of ``R(t)``."""
    mu, xi, targets = _task(key, p.d, p.n, p.N, noise=p.noise)
    k_heads = jax.random.fold_in(key, HEADS)
    every = p.steps // (p.snapshots - 1)
    curves, snaps, snap_t = [], None, None
    for M in p.Ms:
        runs = []
        for s in range(p.seeds):
            theta0 = tasks.silent_init(
                p.L,
                M,
                p.d,
                key=jax.random.fold_in(jax.random.fold_in(k_heads, M), s),
                sigma_A=p.sigma,
                sigma_V=p.sigma,
            )
            h = _gd(theta0, mu, xi, targets, p.eta, p.steps, every=every)
            runs.append(np.asarray(h.R))
            if M == p.Ms[-1] and s == 0:
                snaps = (np.asarray(h.snapshots.A), np.asarray(h.snapshots.V))
                snap_t = np.asarray(h.snapshot_t)
        curves.append(np.stack(runs))
    R = np.stack(curves)  # (widths, seeds, steps + 1)
    t = p.eta * np.arange(p.steps + 1)
    mean, std = R.mean(1), R.std(1, ddof=1)
    spread = std[0, -1] / std[-1, -1]
    i128 = len(p.Ms) - 2
    mean_gap = np.max(np.abs(mean[i128] - mean[-1]) / mean[-1])
    check = Checks(
        (
            Check.above("meanfield_spread", spread, 4.0),
            Check.below("meanfield_mean", mean_gap, 0.05, show_value=True),
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
    return Result(values=values, data=data, check=check)


@experiment
def depth(p: DepthParams, *, key) -> Result:
    """One smooth initial ``ν_s`` discretised at depths ``L``: ``max_t |R_{2L} − R_L|`` falls
    like ``1/L``."""
    mu, xi, targets = _task(key, p.d, p.n, p.N, noise=None)
    smooth = tasks.smooth_heads(p.M, p.d, key=jax.random.fold_in(key, HEADS), scale=p.scale)
    R = np.stack(
        [np.asarray(_gd(smooth.discretise(L), mu, xi, targets, p.eta, p.steps).R) for L in p.Ls]
    )
    diffs = np.max(np.abs(R[1:] - R[:-1]), axis=1)
    Ls = np.array(p.Ls)
    slope = fit_loglog(Ls[:-1], diffs).slope
    check = Check.below("depth_consistency", slope, -0.8, show_value=True, sig=3)
    values = {"Ls": Ls, "diffs": diffs, "slope": np.array(slope)}
    data = {"t": p.eta * np.arange(p.steps + 1), "Ls": Ls, "R": R, "diffs": diffs}
    return Result(values=values, data=data, check=check)


@experiment
def stability(p: StabilityParams, *, key) -> Result:
    """Flows from ``θ⁰`` and ``θ⁰ + δu`` (``D_sync(u) = 1``): ``D(t)/D(0)`` is the same for every
    small ``δ`` and stays bounded (the Grönwall-type bound ``D(t) ≤ e^{Ct} D(0)``)."""
    mu, xi, targets = _task(key, p.d, p.n, p.N, noise=None)
    theta0 = tasks.generic_init(
        p.L, p.M, p.d, key=jax.random.fold_in(key, HEADS), sigma_A=p.sigma, sigma_V=p.sigma
    )
    k_u = jax.random.split(jax.random.fold_in(key, DIRECTIONS))
    u = Heads(jax.random.normal(k_u[0], theta0.A.shape), jax.random.normal(k_u[1], theta0.V.shape))
    zero = jax.tree_util.tree_map(jnp.zeros_like, u)
    u = jax.tree_util.tree_map(lambda v: v / gf.sync_distance(u, zero), u)
    every = CHUNK
    base = _gd(theta0, mu, xi, targets, p.eta, p.steps, every=every)
    ratios = []
    for delta in p.deltas:
        th = jax.tree_util.tree_map(lambda a, b, dl=delta: a + dl * b, theta0, u)
        h = _gd(th, mu, xi, targets, p.eta, p.steps, every=every)
        ratios.append(np.asarray(gf.sync_distance(h.snapshots, base.snapshots)) / delta)
    ratios = np.stack(ratios)  # (deltas, snapshots)
    agree = np.max(np.abs(ratios / ratios[-1] - 1))
    growth = ratios[:, -1].max()
    rate = np.max(np.log(ratios[:, 1:]) / np.asarray(base.snapshot_t)[1:])
    check = Checks(
        (
            Check.below("stability_lipschitz", agree, 0.01, show_value=True),
            Check.below("stability_growth", growth, 10.0, show_value=True),
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
    return Result(values=values, data=data, check=check)


# ---------------------------------------------------------------- figures
def plot_training(result: Result):
    """Risk and squared gradient norm against training time: gradient descent and the flow."""
    from ..companion.figures import COLORS, new_figure

    d = result.data
    fig, (ax, ax_g) = new_figure(2, width="page", height=2.6)
    for i, eta in enumerate(d["etas"]):
        kw = {"color": COLORS[i % len(COLORS)], "lw": 1.0, "label": rf"GD $\eta={eta:g}$"}
        ax.plot(d[f"t_{i}"], d[f"R_{i}"], **kw)
        ax_g.semilogy(d[f"t_{i}"], d[f"g2_{i}"], **kw)
    ax.plot(d["t_flow"], d["R_flow"], "k:", lw=1.6, label="flow (diffrax)")
    ax.plot(d["t_flow"], d["R_flow"][0] - d["E_flow"], "k+", ms=4, label=r"$R(0)-\int_0^t\|g\|^2$")
    ax_g.semilogy(d["t_flow"], d["g2_flow"], "k:", lw=1.6)
    ax.set(xlabel="training time $t$", ylabel="risk $R$")
    ax_g.set(xlabel="training time $t$", ylabel=r"$\|g\|^2$")
    ax.legend(fontsize=6)
    return fig


def plot_energy(result: Result):
    """Log-log: ``1 − ρ_0`` and the integrated defects against ``η``, with fits and slope 1."""
    import matplotlib.ticker

    from ..companion.figures import COLORS, new_figure

    d = result.data
    etas = d["etas"]
    fig, ax = new_figure(1, height=2.8)
    for y, label, c in (
        (d["one_minus_rho"], r"$1-\rho_0$", COLORS[0]),
        (np.abs(d["defect"]), "|defect|, trapezoid", COLORS[1]),
        (np.abs(d["defect_left"]), "|defect|, left Riemann", COLORS[2]),
        (d["gap"], r"$\max_t|R_\eta-R_{\rm flow}|$", COLORS[3]),
    ):
        fit = fit_loglog(etas, y)
        ax.loglog(etas, y, "o", color=c, label=f"{label} (slope {fit.slope:.2f})")
        ax.loglog(etas, fit(etas), "-", color=c, lw=0.8)
    ref = d["one_minus_rho"][0] * etas / etas[0]
    ax.loglog(etas, ref * 0.3, "k--", lw=0.8, label="slope 1")
    ax.set(xlabel=r"step $\eta$", ylabel="defect")
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # overlapping minor labels
    ax.legend(fontsize=6)
    return fig


def plot_meanfield(result: Result):
    """``R(t)``, mean ± std over initialisations, one band per width ``M``."""
    from ..companion.figures import COLORS, new_figure

    d = result.data
    fig, ax = new_figure(1, height=2.8)
    for i, M in enumerate(d["Ms"]):
        c = COLORS[i % len(COLORS)]
        ax.plot(d["t"], d["mean"][i], color=c, label=f"$M={M}$")
        ax.fill_between(
            d["t"],
            d["mean"][i] - d["std"][i],
            d["mean"][i] + d["std"][i],
            color=c,
            alpha=0.25,
            lw=0,
        )
    ax.set(xlabel="training time $t$", ylabel="risk $R$ (mean ± std)", yscale="log")
    ax.legend(fontsize=7)
    return fig


def plot_heads(result: Result):
    """Head particles of each layer in the ``(tr A, tr V)`` plane at several training times."""
    from ..companion.figures import COLORS, new_figure

    d = result.data
    A, V, ts = d["snap_A"], d["snap_V"], d["snap_t"]
    pick = np.unique(np.linspace(0, len(ts) - 1, 4).round().astype(int))
    L = A.shape[1]
    trA = np.trace(A, axis1=-2, axis2=-1)
    trV = np.trace(V, axis1=-2, axis2=-1)
    fig, axes = new_figure(
        len(pick), L, width="page", height=1.4 * L + 0.4, sharex=True, sharey=True
    )
    axes = np.atleast_2d(axes)
    for row in range(L):
        for col, k in enumerate(pick):
            ax = axes[row, col]
            ax.scatter(trA[k, row], trV[k, row], s=2, color=COLORS[row % len(COLORS)], lw=0)
            if row == 0:
                ax.set_title(f"$t = {ts[k]:g}$")
            if col == 0:
                ax.set_ylabel(f"layer {row}\n" + r"tr $V$")
            if row == L - 1:
                ax.set_xlabel(r"tr $A$")
    return fig


def plot_depth(result: Result):
    """``R(t)`` per depth ``L`` and, log-log, ``max_t |R_{2L} − R_L|`` against ``L``."""
    from ..companion.figures import COLORS, new_figure

    d = result.data
    fig, (ax, ax_r) = new_figure(2, width="page", height=2.6)
    for i, L in enumerate(d["Ls"]):
        ax.plot(d["t"], d["R"][i], color=COLORS[i % len(COLORS)], label=f"$L={L}$")
    ax.set(xlabel="training time $t$", ylabel="risk $R$")
    ax.legend(fontsize=6)
    Ls = d["Ls"][:-1]
    fit = fit_loglog(Ls, d["diffs"])
    ax_r.loglog(Ls, d["diffs"], "o", label=f"fit slope {fit.slope:.2f}")
    ax_r.loglog(Ls, fit(Ls), "-", lw=0.8)
    ax_r.loglog(Ls, d["diffs"][0] * Ls[0] / Ls, "k--", lw=0.8, label="slope −1")
    ax_r.set(xlabel="depth $L$", ylabel=r"$\max_t |R_{2L}-R_L|$")
    ax_r.legend(fontsize=7)
    return fig


def plot_stability(result: Result):
    """``D(t)/D(0)`` for each initial distance, with the exponential envelope ``e^{Ĉt}``."""
    from ..companion.figures import COLORS, new_figure

    d = result.data
    fig, ax = new_figure(1, height=2.6)
    for i, delta in enumerate(d["deltas"]):
        ax.plot(
            d["t"],
            d["ratios"][i],
            "o-" if i == 0 else "-",
            ms=3,
            color=COLORS[i % len(COLORS)],
            label=rf"$D(0)={delta:g}$",
        )
    ax.plot(d["t"], np.exp(d["rate"] * d["t"]), "k--", lw=0.8, label=r"$e^{\hat C t}$")
    ax.set(xlabel="training time $t$", ylabel=r"$D_{\rm sync}(t)/D_{\rm sync}(0)$")
    ax.legend(fontsize=7)
    return fig


# ---------------------------------------------------------------- private
def _task(key, d, n, N, *, noise):
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


def _steps(T, eta, multiple=CHUNK):
    steps = int(round(T / eta))
    if abs(steps * eta - T) > 1e-9 * T or steps % multiple:
        raise ValueError(f"energy: T/eta = {T / eta:g}; needs an integer multiple of {CHUNK}.")
    return steps


def _gd(theta0, mu, xi, targets, eta, steps, *, every=None):
    """Mean-field gradient descent in chunks of ``CHUNK`` steps (one compilation per shape)."""
    return gf.train_chunked(
        theta0,
        mu,
        xi,
        targets,
        eta=eta,
        steps=steps,
        chunk=CHUNK if steps % CHUNK == 0 else steps,
        snapshot_every=every,
    )

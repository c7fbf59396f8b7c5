"""Chapter 3 figures: ``plot_<what>(result) -> Figure``, drawn from an experiment's result only,
in the house style of :mod:`mftransformer.companion.figures`."""

import matplotlib.ticker
import numpy as np

from ...companion.figures import COLORS, house_style, new_figure
from ..checks import fit_loglog

__all__ = [
    "plot_training",
    "plot_energy",
    "plot_meanfield",
    "plot_coupling",
    "plot_heads",
    "plot_depth",
    "plot_stability",
]


@house_style
def plot_training(result):
    """Risk and squared gradient norm against training time: gradient descent and the flow."""
    d = result.data
    fig, (ax, ax_g) = new_figure(2, width="page", height=2.6)
    for i, eta in enumerate(d["etas"]):
        kw = {"color": COLORS[i % len(COLORS)], "lw": 1.0, "label": rf"GD $\eta={eta:g}$"}
        ax.plot(d[f"t_{i}"], d[f"R_{i}"], **kw)
        ax_g.semilogy(d[f"t_{i}"], d[f"g2_{i}"], **kw)
    ax.plot(d["t_flow"], d["R_flow"], "k:", lw=1.6, label="flow (diffrax)")
    ax.plot(d["t_flow"], d["R_flow"][0] - d["E_flow"], "k+", ms=4, label=r"$R(0)-\int_0^t\|g\|^2$")
    ax_g.semilogy(d["t_flow"], d["g2_flow"], "k:", lw=1.6)
    ax.set(xlabel="training time $t$ (dimensionless)", ylabel="risk $R$ (dimensionless)")
    ax_g.set(xlabel="training time $t$ (dimensionless)", ylabel=r"$\|g\|^2$ (dimensionless)")
    ax.legend(fontsize=6)
    return fig


@house_style
def plot_energy(result):
    r"""Log-log: :math:`1 - \rho_0` and the integrated defects against :math:`\eta`, with fits and
    slope 1."""
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
    ax.set(xlabel=r"step $\eta$ (dimensionless)", ylabel="defect (dimensionless)")
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # overlapping minor labels
    ax.legend(fontsize=6)
    return fig


@house_style
def plot_meanfield(result):
    r""":math:`R(t)`, mean :math:`\pm` std over initialisations, one band per width :math:`M`."""
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
    ax.plot(d["t"], d["R_ref"], "k:", lw=1.2, label=f"reference $M={int(d['M_ref'])}$")
    ax.set(xlabel="training time $t$ (dimensionless)", ylabel="risk $R$ (mean ± std)", yscale="log")
    ax.legend(fontsize=7)
    return fig


@house_style
def plot_coupling(result):
    r"""Log-log against :math:`M`: the spread of :math:`R(T)` over seeds and :math:`W_{\rm COT}` to
    the tracers (one line per key, their median), and :math:`W_{\rm COT}` between independent
    networks, each with its fitted slope."""
    d = result.data
    Ms = d["Ms"].astype(float)
    fig, (ax_s, ax_w) = new_figure(2, width="page", height=2.6)
    for s in d["spread"]:
        ax_s.loglog(Ms, s, "-", color=COLORS[0], lw=0.5, alpha=0.5)
    std = np.median(d["spread"], axis=0)
    fit = fit_loglog(Ms, std)
    ax_s.loglog(
        Ms, std, "o", color=COLORS[0], label=f"std over seeds, median (slope {fit.slope:.2f})"
    )
    ax_s.loglog(Ms, fit(Ms), "-", color=COLORS[0], lw=0.8)
    ax_s.loglog(Ms, std[0] * np.sqrt(Ms[0] / Ms), "k--", lw=0.8, label=r"$M^{-1/2}$")
    ax_s.set(xlabel="heads per layer $M$ (dimensionless)", ylabel=r"std of $R(T)$ (dimensionless)")
    ax_s.legend(fontsize=7)
    for c in d["coupling"]:
        ax_w.loglog(Ms, c, "-", color=COLORS[1], lw=0.5, alpha=0.5)
    med = np.median(d["coupling"], axis=0)
    fit = fit_loglog(Ms, med)
    ax_w.loglog(
        Ms, med, "o-", color=COLORS[1], label=f"to the tracers, median (slope {fit.slope:.2f})"
    )
    ind = d["independent"].mean(0)
    fit = fit_loglog(Ms, ind)
    ax_w.loglog(
        Ms, ind, "s-", color=COLORS[2], label=f"independent networks (slope {fit.slope:.2f})"
    )
    ax_w.loglog(Ms, med[0] * np.sqrt(Ms[0] / Ms), "k--", lw=0.8, label=r"$M^{-1/2}$")
    ax_w.set(
        xlabel="heads per layer $M$ (dimensionless)", ylabel=r"$W_{\rm COT}$ at $T$ (dimensionless)"
    )
    ax_w.legend(fontsize=6, loc="center right")
    return fig


@house_style
def plot_heads(result):
    r"""Head particles of each layer in the :math:`(\mathrm{tr}\, A, \mathrm{tr}\, V)` plane at
    several training times."""
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
                ax.set_ylabel(f"layer {row}\n" + r"tr $V$ (dimensionless)")
            if row == L - 1:
                ax.set_xlabel(r"tr $A$ (dimensionless)")
    return fig


@house_style
def plot_depth(result):
    r""":math:`R(t)` per depth :math:`L` and, log-log, :math:`\max_t |R_{2L} - R_L|` against
    :math:`L`."""
    d = result.data
    fig, (ax, ax_r) = new_figure(2, width="page", height=2.6)
    for i, L in enumerate(d["Ls"]):
        ax.plot(d["t"], d["R"][i], color=COLORS[i % len(COLORS)], label=f"$L={L}$")
    ax.set(xlabel="training time $t$ (dimensionless)", ylabel="risk $R$ (dimensionless)")
    ax.legend(fontsize=6)
    Ls = d["Ls"][:-1]
    fit = fit_loglog(Ls, d["diffs"])
    ax_r.loglog(Ls, d["diffs"], "o", label=f"fit slope {fit.slope:.2f}")
    ax_r.loglog(Ls, fit(Ls), "-", lw=0.8)
    ax_r.loglog(Ls, d["diffs"][0] * Ls[0] / Ls, "k--", lw=0.8, label="slope −1")
    ax_r.set(xlabel="depth $L$ (dimensionless)", ylabel=r"$\max_t |R_{2L}-R_L|$ (dimensionless)")
    ax_r.legend(fontsize=7)
    return fig


@house_style
def plot_stability(result):
    r""":math:`D_{\rm sync}(t)/D_{\rm sync}(0)` (lines) and
    :math:`W_{\rm COT}(t)/W_{\rm COT}(0)` (crosses) for each initial distance, with the
    exponential envelope :math:`e^{\hat C t}` (first key)."""
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
    for i in range(len(d["deltas"])):
        ax.plot(d["t"], d["cot_ratios"][i], "x", ms=4, color=COLORS[i % len(COLORS)])
    ax.plot([], [], "kx", ms=4, label=r"$W_{\rm COT}(t)/W_{\rm COT}(0)$")
    ax.plot(d["t"], np.exp(d["rate"] * d["t"]), "k--", lw=0.8, label=r"$e^{\hat C t}$")
    ax.set(
        xlabel="training time $t$ (dimensionless)",
        ylabel=r"distance ratio $D(t)/D(0)$ (dimensionless)",
    )
    ax.legend(fontsize=7)
    return fig

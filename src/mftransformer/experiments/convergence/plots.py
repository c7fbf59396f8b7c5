"""Chapter 5 figures: ``plot_<what>(result) -> Figure``, drawn from an experiment's result only
(STYLE.md §9), in the house style of :mod:`mftransformer.companion.figures`."""

import numpy as np
from matplotlib.ticker import NullFormatter

from ...companion.figures import house_style, new_figure

__all__ = ["plot_injective", "plot_stall", "plot_sweep", "plot_width_depth"]


@house_style
def plot_injective(result):
    """Left: ``R(t)`` (log scale) with ``R_lin``, the fitted line, the guaranteed decay and the
    fit window. Right: the PL ratio ``‖g‖²/(λ_0 R/N)`` and ``λ_min(K(ν^t))/λ_0``."""
    d, v = result.data, result.values
    fig, (ax, ax_r) = new_figure(2, width="page", height=2.8)
    ax.semilogy(d["t"], d["R"], color="C0", label="$R(t)$, gradient descent")
    ax.semilogy(d["t"], d["R_lin"], "--", color="C1", label="$R_{\\rm lin}$ (NTK at $\\nu_0$)")
    ax.semilogy(
        d["fit_t"],
        d["fit_R"],
        ":",
        color="k",
        lw=1.0,
        label=f"fit: rate {v['rate_fitted']:.4f} (pred. {v['rate_predicted']:.4f})",
    )
    ax.semilogy(
        d["t"],
        d["guaranteed"],
        "-.",
        color="C2",
        lw=0.9,
        label="$R_0 e^{-\\lambda_0 t/N}$ (guaranteed)",
    )
    ax.axvline(v["t_a"], color="0.6", lw=0.7)
    ax.set(
        xlabel="training time $t$ (dimensionless)",
        ylabel="risk $R$ (dimensionless)",
        title="injective data: loss",
        ylim=(max(float(np.min(d["R"])) / 10, 1e-40), float(d["R"][0]) * 10),
    )
    ax.legend(fontsize=6)
    above = d["R"] > 0
    ax_r.plot(d["t"][above], d["pl"][above], color="C0", label="$\\|g\\|^2/(\\lambda_0 R/N)$")
    ax_r.plot(
        d["snapshot_t"],
        d["lam_t"] / v["lam0"],
        "o",
        color="C3",
        label="$\\lambda_{\\min}(K(\\nu^t))/\\lambda_0$",
    )
    ax_r.axhline(1.0, color="0.5", lw=0.7)
    ax_r.axhline(0.5, color="0.5", lw=0.7, ls=":")
    ax_r.set(
        xlabel="training time $t$ (dimensionless)",
        ylabel="ratio (dimensionless)",
        title="PL ratio and kernel along the run",
        xlim=(0, v["t_stop"]),
        ylim=(0, max(3.0, 1.05 * float(np.nanmax(d["pl"][d["t"] <= v["t_stop"]])))),
    )
    ax_r.legend(fontsize=6)
    return fig


@house_style
def plot_stall(result):
    """Left: ``R(t)`` with the predicted plateau ``(cᵀr_0)²/2N``. Right: the residual's
    component along the null combination ``c`` and its norm across it."""
    d, v = result.data, result.values
    fig, (ax, ax_r) = new_figure(2, width="page", height=2.8)
    ax.semilogy(d["t"], d["R"], color="C0", label="$R(t)$")
    ax.semilogy(d["t"], d["R_lin"], "--", color="C1", label="$R_{\\rm lin}$")
    ax.axhline(v["R_inf"], color="k", ls=":", lw=1.0, label="plateau $(c^\\top r_0)^2/2N$")
    ax.axvline(v["t_p"], color="0.6", lw=0.7)
    ax.set(
        xlabel="training time $t$ (dimensionless)",
        ylabel="risk $R$ (dimensionless)",
        title="dependent LSEs: the loss stalls",
    )
    ax.legend(fontsize=6)
    ax_r.semilogy(
        d["snapshot_t"],
        np.abs(d["along"]),
        "o-",
        color="C3",
        label="$|c^\\top r(t)|$ (null direction)",
    )
    ax_r.semilogy(
        d["snapshot_t"],
        np.maximum(d["across"], 1e-300),
        "s-",
        color="C0",
        label="$|r(t) - (c^\\top r)\\,c|$",
    )
    ax_r.set(
        xlabel="training time $t$ (dimensionless)",
        ylabel="residual part (dimensionless)",
        title="where the residual lives",
    )
    ax_r.legend(fontsize=6)
    return fig


@house_style
def plot_sweep(result):
    """Left: ``R(t)/R_0`` for each ``ε`` with ``R_lin/R_0`` and the guaranteed decay. Right: the
    deviation from ``R_lin`` against ``R_0``, with the indicative threshold."""
    d, v = result.data, result.values
    fig, (ax, ax_r) = new_figure(2, width="page", height=2.8)
    for i, e in enumerate(d["eps"]):
        ax.semilogy(d["t"], d["R_over_R0"][i], color=f"C{i % 8}", label=f"$\\varepsilon$ = {e:g}")
    ax.semilogy(d["t"], d["R_lin_over_R0"], "k--", lw=1.0, label="$R_{\\rm lin}/R_0$")
    ax.semilogy(d["t"], d["guaranteed"], "-.", color="0.4", lw=0.9, label="$e^{-\\lambda_0 t/N}$")
    ax.set(
        xlabel="training time $t$ (dimensionless)",
        ylabel="$R(t)/R_0$ (dimensionless)",
        title="growing initial loss",
        ylim=(max(float(np.nanmin(d["R_over_R0"])) / 10, 1e-35), 3.0),
    )
    ax.legend(fontsize=6)
    ax_r.loglog(d["R0"], d["lazy_dev"], "o-", color="C0", label="$\\max_t |R/R_{\\rm lin} - 1|$")
    ax_r.loglog(
        d["R0"],
        d["lazy_dev"][0] * np.sqrt(d["R0"] / d["R0"][0]),
        ":",
        color="0.4",
        label="$\\propto \\varepsilon = \\sqrt{R_0}$ (reference)",
    )
    ax_r.axvline(
        v["threshold"], color="C1", ls="--", lw=1.0, label="indicative threshold (not verified)"
    )
    ax_r.set(
        xlabel="initial loss $R_0$ (dimensionless)",
        ylabel="$\\max_t |R/R_{\\rm lin} - 1|$ (dimensionless)",
        title="departure from the lazy prediction",
    )
    ax_r.legend(fontsize=6)
    return fig


@house_style
def plot_width_depth(result):
    """Left: fitted rates against ``L·M`` (width line, depth line) with the mean-field rate.
    Right: their RMS relative deviation from it (log-log) with the fit and slope −1/2."""
    d, v = result.data, result.values
    fig, (ax, ax_r) = new_figure(2, width="page", height=2.8)
    labels = ("width line (M grows)", "depth line (L grows)")
    for line, (marker, shift) in enumerate((("o", 0.97), ("s", 1.03))):
        sel = d["line"] == line
        x = np.repeat(d["LM"][sel] * shift, d["fitted"].shape[1])
        ax.semilogx(
            x,
            d["fitted"][sel].reshape(-1),
            marker,
            color=f"C{line}",
            ms=3,
            alpha=0.7,
            label=labels[line],
        )
        ax_r.loglog(d["LM"][sel], d["rms"][sel], marker, color=f"C{line}", label=labels[line])
    ax.axhline(float(d["rate_inf"]), color="k", ls="--", lw=1.0, label="mean-field rate")
    ax.set(
        xlabel="$L\\cdot M$ (dimensionless)",
        ylabel="fitted rate of $\\log R$ (dimensionless)",
        title="rate vs width and depth",
    )
    ax.legend(fontsize=6)
    order = np.argsort(d["LM"])
    ax_r.loglog(
        d["LM"][order],
        d["rms_fit"][order],
        "k-",
        lw=0.9,
        label=f"fit: slope {v['slope']:.2f} (Monte Carlo law: −0.5)",
    )
    ax_r.set(
        xlabel="$L\\cdot M$ (dimensionless)",
        ylabel="RMS relative deviation (dimensionless)",
        title="approach to the mean field",
    )
    for a in (ax, ax_r):
        a.xaxis.set_minor_formatter(NullFormatter())
    ax_r.legend(fontsize=6)
    return fig

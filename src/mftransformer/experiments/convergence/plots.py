"""Chapter 5 figures: ``plot_<what>(result) -> Figure``, drawn from an experiment's result only,
in the house style of :mod:`mftransformer.companion.figures`."""

import numpy as np
from matplotlib.ticker import NullFormatter

from ...companion.figures import house_style, new_figure

__all__ = ["plot_injective", "plot_stall", "plot_sweep", "plot_threshold", "plot_width_depth"]


@house_style
def plot_injective(result):
    r"""Left: :math:`R(t)` of the first key (log scale) with :math:`R_{\rm lin}`, the fitted line,
    the guaranteed decay and the start of the fit window. Right: :math:`|R/R_{\rm lin} - 1|` on
    :math:`t \le t_{\rm lazy}` for every key, the quantity ``lazy_fit`` bounds."""
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
        label=f"fit: rate {v['rate_fitted'][0]:.4f} (pred. {v['rate_predicted'][0]:.4f})",
    )
    ax.semilogy(
        d["t"],
        d["guaranteed"],
        "-.",
        color="C2",
        lw=0.9,
        label="$R_0 e^{-\\lambda_0 t/N}$ (guaranteed)",
    )
    ax.axvline(v["t_a"][0], color="0.6", lw=0.7)
    ax.set(
        xlabel="training time $t$ (dimensionless)",
        ylabel="risk $R$ (dimensionless)",
        title="first key: loss",
        ylim=(max(float(np.min(d["R"][d["R"] > 0])) / 10, 1e-40), float(d["R"][0]) * 10),
    )
    ax.legend(fontsize=6, loc="lower left")
    for k, curve in enumerate(d["lazy_curves"]):
        ax_r.plot(d["lazy_t"], np.abs(curve), color=f"C{k % 8}", lw=0.9, label=f"key {k}")
    ax_r.axhline(0.10, color="0.4", ls=":", lw=0.9, label="band of the median (0.10)")
    ax_r.set(
        xlabel="training time $t$ (dimensionless)",
        ylabel="$|R/R_{\\rm lin} - 1|$ (dimensionless)",
        title="departure from the lazy prediction",
    )
    ax_r.legend(fontsize=6, loc="upper left", ncols=2)
    return fig


@house_style
def plot_stall(result):
    r"""First key. Left: :math:`R(t)` with the predicted plateau :math:`(c^\top r_0)^2/2N`. Right:
    the residual's component along the null combination :math:`c` and its norm across it."""
    d, v = result.data, result.values
    fig, (ax, ax_r) = new_figure(2, width="page", height=2.8)
    ax.semilogy(d["t"], d["R"], color="C0", label="$R(t)$")
    ax.semilogy(d["t"], d["R_lin"], "--", color="C1", label="$R_{\\rm lin}$")
    ax.axhline(v["R_inf"][0], color="k", ls=":", lw=1.0, label="plateau $(c^\\top r_0)^2/2N$")
    ax.axvline(v["t_p"][0], color="0.6", lw=0.7)
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
    r"""Left: :math:`R(t)/R_0` of the first key for each :math:`\varepsilon` with
    :math:`R_{\rm lin}/R_0` and the guaranteed decay. Right: the deviation from
    :math:`R_{\rm lin}` against :math:`\varepsilon` for every key, with the line
    :math:`\propto \varepsilon`."""
    d = result.data
    fig, (ax, ax_r) = new_figure(2, width="page", height=2.8)
    for i, e in enumerate(d["eps"]):
        ax.semilogy(d["t"], d["R_over_R0"][i], color=f"C{i % 8}", label=f"$\\varepsilon$ = {e:g}")
    ax.semilogy(d["t"], d["R_lin_over_R0"], "k--", lw=1.0, label="$R_{\\rm lin}/R_0$")
    ax.semilogy(d["t"], d["guaranteed"], "-.", color="0.4", lw=0.9, label="$e^{-\\lambda_0 t/N}$")
    ax.set(
        xlabel="training time $t$ (dimensionless)",
        ylabel="$R(t)/R_0$ (dimensionless)",
        title="first key: growing initial loss",
        ylim=(max(float(np.nanmin(d["R_over_R0"])) / 10, 1e-35), 3.0),
    )
    ax.legend(fontsize=6, loc="lower left", ncols=2)
    eps = d["eps"]
    for k, dev in enumerate(d["lazy_dev"]):
        ax_r.loglog(eps, dev, "o-", color=f"C{k % 8}", ms=2.5, lw=0.9, label=f"key {k}")
    lazy = eps <= d["eps_lazy"]
    ref = np.median(d["lazy_dev"][:, 0]) * eps[lazy] / eps[0]
    ax_r.loglog(eps[lazy], ref, ":", color="k", lw=1.2, label="$\\propto \\varepsilon$ (reference)")
    ax_r.set(
        xlabel="label offset $\\varepsilon$ (dimensionless)",
        ylabel="$\\max_t |R/R_{\\rm lin} - 1|$ (dimensionless)",
        title="departure from the lazy prediction",
    )
    ax_r.xaxis.set_minor_formatter(NullFormatter())
    ax_r.legend(fontsize=6, loc="lower right", ncols=2)
    return fig


@house_style
def plot_threshold(result):
    r"""Left: each run's initial loss :math:`R_0` over its own indicative threshold
    :math:`\lambda_0^3/(16 N \widehat{\mathrm{Lip}}_K^2)` against :math:`\varepsilon`, every key.
    Right: the kernel's relative drift :math:`|\lambda_{\min}(K(\nu^t))/\lambda_0 - 1|` against
    the distance travelled :math:`D_{\rm sync}(t)` at every snapshot of every run, with the
    proof's limit 1/2."""
    d = result.data
    fig, (ax, ax_r) = new_figure(2, width="page", height=2.8)
    eps = d["eps"]
    for k in range(d["R0"].shape[0]):
        ax.loglog(
            eps,
            d["R0"][k] / d["threshold"][k],
            "o-",
            color=f"C{k % 8}",
            ms=2.5,
            lw=0.9,
            label=f"key {k}",
        )
    ax.axhline(1.0, color="k", ls="--", lw=0.9, label="$R_0$ = indicative threshold")
    ax.set(
        xlabel="label offset $\\varepsilon$ (dimensionless)",
        ylabel="$R_0$ / its threshold (dimensionless)",
        title="initial loss against its own threshold",
    )
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.legend(fontsize=6, loc="upper left", ncols=2)
    drift = np.abs(d["drift_lam"] / d["lam0"][:, None, None] - 1)
    D = d["drift_D"]
    for i, e in enumerate(eps):
        x, y = D[:, i].ravel(), drift[:, i].ravel()
        ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
        ax_r.loglog(
            x[ok], y[ok], "o", color=f"C{i % 8}", ms=2.5, alpha=0.8, label=f"$\\varepsilon$ = {e:g}"
        )
    ax_r.axhline(0.5, color="k", ls="--", lw=0.9, label="fall by $\\lambda_0/2$ (proof's limit)")
    ax_r.set(
        xlabel="distance travelled $D_{\\rm sync}(t)$ (dimensionless)",
        ylabel="$|\\lambda_{\\min}(K(\\nu^t))/\\lambda_0 - 1|$ (dimensionless)",
        title="kernel drift against distance",
    )
    ax_r.xaxis.set_minor_formatter(NullFormatter())
    ax_r.legend(fontsize=6, loc="upper left", ncols=2)
    return fig


@house_style
def plot_width_depth(result):
    r"""Left: fitted rates against :math:`LM` (width line, depth line) with the mean-field rate.
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

"""Chapter 1 figures: ``plot_<what>(result) -> Figure``, drawn from an experiment's result only,
in the house style of :mod:`mftransformer.companion.figures`."""

import numpy as np

from ...companion.figures import COLORS, house_style, new_figure
from .run import SCHEMES

__all__ = [
    "plot_trajectories",
    "plot_flow",
    "plot_fold",
    "plot_depth",
    "plot_width",
    "plot_tokens",
    "plot_stability",
]


@house_style
def plot_trajectories(result):
    """Left: token paths through depth (first two coordinates), one colour per input, dots at
    :math:`s = 0` and crosses at :math:`s = 1`. Right: the largest token norm against the support
    bound."""
    d = result.data
    fig, (ax, ax_r) = new_figure(2, width="page", height=3.0)
    for i in range(d["z"].shape[1]):
        c = COLORS[i % len(COLORS)]
        z = d["z"][:, i]
        ax.plot(z[..., 0], z[..., 1], color=c, lw=0.6, alpha=0.6)
        ax.plot(z[0, :, 0], z[0, :, 1], "o", color=c, ms=2.5)
        ax.plot(z[-1, :, 0], z[-1, :, 1], "x", color=c, ms=3.5)
        ax_r.plot(
            d["s"], d["radius"][:, i], "-", color=c, label=f"input {i + 1}" if i < 4 else None
        )
        ax_r.plot(d["s"], d["bound"][:, i], ":", color=c, lw=0.9)
    ax.set(
        xlabel="$x_1$ (dimensionless)",
        ylabel="$x_2$ (dimensionless)",
        title="token paths $s \\mapsto X_s(x_k)$",
        aspect="equal",
    )
    ax_r.set(
        xlabel="depth $s$ (dimensionless)",
        ylabel="$\\max_k |z_k^\\ell|$ (dimensionless)",
        yscale="log",
        title="largest norm; bound dotted",
    )
    ax_r.legend(loc="upper left")
    return fig


@house_style
def plot_flow(result):
    r"""The grid :math:`X_s([-e, e]^2)` at a few depths, with the context tokens (dots); the last
    panel colours the grid by :math:`\log \det DX_1`."""
    d = result.data
    k = len(d["s"])
    fig, axes = new_figure(k + 1, width="page", height=2.2)
    step = max(1, (d["grid"].shape[1] - 1) // 10)
    for ax, s, g, tok in zip(axes[:k], d["s"], d["grid"], d["tokens"], strict=True):
        for line in g[::step]:
            ax.plot(line[:, 0], line[:, 1], color="0.35", lw=0.5)
        for line in g.transpose(1, 0, 2)[::step]:
            ax.plot(line[:, 0], line[:, 1], color="0.35", lw=0.5)
        ax.plot(tok[:, 0], tok[:, 1], "o", ms=2.5, color="C1")
        ax.set(title=f"$s = {s:g}$", aspect="equal", xticks=[], yticks=[])
    g = d["grid"][-1]
    im = axes[-1].pcolormesh(
        g[..., 0], g[..., 1], np.log(d["det"]), shading="gouraud", cmap="viridis"
    )
    axes[-1].set(title="$\\log\\det DX_1$", aspect="equal", xticks=[], yticks=[])
    fig.colorbar(im, ax=axes[-1], shrink=0.8).set_label("$\\log\\det DX_1$ (dimensionless)")
    return fig


@house_style
def plot_depth(result):
    """Error against :math:`L` (log-log) for the three schemes: the median over keys (dots), every
    key (thin lines) and the fit of the median."""
    d = result.data
    fig, ax = new_figure(1, height=2.8)
    for i, (s, order) in enumerate(zip(SCHEMES, (1, 2, 4), strict=True)):
        for e in d[f"error_{s}"]:
            ax.loglog(d["L"], e, "-", color=f"C{i}", lw=0.4, alpha=0.5)
        ax.loglog(d["L"], np.median(d[f"error_{s}"], axis=0), "o", color=f"C{i}")
        mask = d["fit_mask_rk4"] if s == "rk4" else d["fit_mask"]
        ax.loglog(
            d["L"][mask],
            d[f"fit_{s}"][mask],
            "-",
            color=f"C{i}",
            label=f"{s}: slope {float(d[f'slope_{s}']):.2f} (order {order})",
        )
    ax.set(
        xlabel="layers $L$ (dimensionless)",
        ylabel="$\\max|z^L - X_1|$ (dimensionless)",
        title="depth: error against $L$",
    )
    ax.legend(loc="lower left")
    return fig


@house_style
def plot_width(result):
    """Left: median error over keys against :math:`M` at both depths, i.i.d. (solid) and tied
    (dashed), with the fits at the short depth. Right: the same errors against :math:`LM`."""
    d = result.data
    fig, (ax, ax_r) = new_figure(2, width="page", height=2.8)
    for i, L in enumerate(d["L"]):
        for kind, style in (("iid", "o-"), ("tied", "s--")):
            e = np.median(d[f"error_{kind}"], axis=0)[i]
            run = np.isfinite(e)
            M = d["M"][run]
            ax.loglog(M, e[run], style, color=f"C{i}", label=f"{kind}, $L = {L}$", lw=0.9)
            ax_r.loglog(L * M, e[run], style, color=f"C{i}", lw=0.9)
    for kind, style in (("iid", ":"), ("tied", "-.")):
        ax.loglog(
            d["M"][d["fit_mask"]],
            d[f"fit_{kind}"][d["fit_mask"]],
            style,
            color="0.2",
            lw=0.8,
            label=f"fit {kind}: slope {float(d[f'slope_{kind}']):.2f}",
        )
    ax.set(
        xlabel="heads $M$ (dimensionless)",
        ylabel="RMS error (dimensionless)",
        title="width: error against $M$",
    )
    ax_r.set(
        xlabel="$L\\cdot M$ (dimensionless)",
        ylabel="RMS error (dimensionless)",
        title="same errors against $L\\cdot M$",
    )
    ax.legend(fontsize=6, loc="lower left")
    return fig


@house_style
def plot_tokens(result):
    """Left: query error against :math:`n` (log-log), median over keys, every key thin, the fit
    and the :math:`n^{-1/2}` law. Right: the same for :math:`W_2` to the exact map."""
    d = result.data
    fig, axes = new_figure(2, width="page", height=2.6)
    for ax, err, fit, slope, ylabel in (
        (axes[0], "error", "fit", "slope", "$|\\xi^L - \\xi^L_{\\rm Gauss}|$ (dimensionless)"),
        (axes[1], "w2", "fit_w2", "slope_w2", "$W_2$ to the exact map (dimensionless)"),
    ):
        for e in d[err]:
            ax.loglog(d["n"], e, "-", color="C0", lw=0.4, alpha=0.5)
        ax.loglog(d["n"], np.median(d[err], axis=0), "o", color="C0", label="median over keys")
        ax.loglog(d["n"], d[fit], "-", color="C1", label=f"fit: slope {float(d[slope]):.2f}")
        ax.loglog(
            d["n"], d[fit][0] * (d["n"] / d["n"][0]) ** -0.5, ":", color="0.3", label="$n^{-1/2}$"
        )
        ax.set(xlabel="tokens $n$ (dimensionless)", ylabel=ylabel)
        ax.legend(loc="lower left")
    axes[0].set_title("query error against $n$")
    axes[1].set_title("$W_2$ of the tokens against $n$")
    return fig


@house_style
def plot_fold(result):
    r"""Minimum of :math:`\det DX_1` over the grid against the Euler step :math:`h = 1/L`
    (symlog), the flow's value, zero, the crossing :math:`h^*` and the book's step."""
    d = result.data
    fig, ax = new_figure(1, height=2.6)
    ax.plot(d["h"], d["min_det_euler"], "o-", color="C0", label="Euler network", ms=3)
    ax.axhline(float(d["min_det_flow"]), color="C1", ls="--", label="flow (RK4)")
    ax.axhline(0.0, color="0.3", lw=0.6)
    if np.isfinite(d["h_star"]):
        ax.axvline(float(d["h_star"]), color="C2", ls=":", label="$h^*$ (fold)")
    ax.axvline(float(d["h_book"]), color="C3", ls="-.", label="book's $h = 1/L$")
    ax.set_xscale("log")
    ax.set_yscale("symlog", linthresh=0.01)
    ax.set(
        xlabel="Euler step $h = 1/L$ (dimensionless)",
        ylabel="$\\min\\det DX_1$ (dimensionless)",
        title="the Euler map folds at coarse $h$",
    )
    ax.legend(loc="lower left")
    return fig


@house_style
def plot_stability(result):
    r"""Left, middle: :math:`|\Delta\, \mathrm{output}| / \delta` against :math:`\delta` along the
    worst direction of each key, heads and tokens, with the power iteration's value (dashed).
    Right: the measured constants against the Result-1 bounds (:math:`\log_{10}`), per key."""
    d = result.data
    fig, axes = new_figure(3, width="page", height=2.6)
    for ax, kind, label in zip(
        axes[:2],
        ("theta", "tokens"),
        ("heads, $D_{\\rm sync} = \\delta$", "tokens, $L^2(\\mu)$ norm $\\delta$"),
        strict=True,
    ):
        for i, (r, sig) in enumerate(zip(d[f"ratio_{kind}"], d[f"sigma_{kind}"], strict=True)):
            ax.semilogx(d["delta"], r, "o-", lw=0.8, ms=3, color=f"C{i % 8}")
            ax.axhline(sig[-1], color=f"C{i % 8}", ls="--", lw=0.6)
        ax.set(
            xlabel="$\\delta$ (dimensionless)",
            ylabel="$|\\Delta\\,\\mathrm{output}|/\\delta$ (dimensionless)",
            title=label,
        )
    ax = axes[2]
    keys = np.arange(len(d["log10_bound_theta"]))
    for j, (kind, measured, bound) in enumerate(
        (
            ("heads", np.max(d["ratio_theta"], 1), d["log10_bound_theta"]),
            ("tokens", np.max(d["ratio_tokens"], 1), d["log10_bound_tokens"]),
            ("$W_1$", np.max(d["w1_ratio"], 1), d["log10_bound_w1"]),
        )
    ):
        ax.plot(keys + 0.2 * j, np.log10(measured), "o", color=f"C{j}", ms=3, label=f"{kind}")
        ax.plot(keys + 0.2 * j, bound, "_", color=f"C{j}", ms=8)
    ax.set(
        xlabel="key (dimensionless)",
        ylabel="$\\log_{10}$ constant (dimensionless)",
        title="measured (dots), bound (bars)",
        xticks=keys,
    )
    ax.legend(loc="center right")
    return fig

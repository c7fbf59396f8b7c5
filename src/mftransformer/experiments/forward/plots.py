"""Chapter 1 figures: ``plot_<what>(result) -> Figure``, drawn from an experiment's result only
(STYLE.md §9), in the house style of :mod:`mftransformer.companion.figures`."""

import numpy as np

from ...companion.figures import COLORS, house_style, new_figure
from .run import SCHEMES

__all__ = [
    "plot_trajectories",
    "plot_flow",
    "plot_depth",
    "plot_width",
    "plot_tokens",
    "plot_stability",
]


@house_style
def plot_trajectories(result):
    """Left: token paths through depth (first two coordinates), one colour per input, dots at
    ``s = 0`` and crosses at ``s = 1``. Right: the largest token norm against the support bound."""
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
    """The grid ``X_s([-e, e]²)`` at a few depths, with the context tokens (dots); the last
    panel colours the grid by ``log det DX_1``."""
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
    """Error against ``L`` (log-log) for the three schemes, with the fitted lines."""
    d = result.data
    fig, ax = new_figure(1, height=2.8)
    for i, (s, order) in enumerate(zip(SCHEMES, (1, 2, 4), strict=True)):
        slope = result.slopes[s]
        ax.loglog(d["L"], d[f"error_{s}"], "o", color=f"C{i}")
        mask = d["fit_mask_rk4"] if s == "rk4" else d["fit_mask"]
        ax.loglog(
            d["L"][mask],
            d[f"fit_{s}"][mask],
            "-",
            color=f"C{i}",
            label=f"{s}: slope {slope:.2f} (order {order})",
        )
    ax.set(
        xlabel="layers $L$ (dimensionless)",
        ylabel="$\\max|z^L - X_1|$ (dimensionless)",
        title="depth: error against $L$",
    )
    ax.legend()
    return fig


@house_style
def plot_width(result):
    """Left: error against ``M`` at both depths, i.i.d. (solid) and tied (dashed), with the fits
    at the short depth. Right: the same errors against ``L·M``."""
    d = result.data
    fig, (ax, ax_r) = new_figure(2, width="page", height=2.8)
    for i, L in enumerate(d["L"]):
        for kind, style in (("iid", "o-"), ("tied", "s--")):
            e = d[f"error_{kind}"][i]
            ax.loglog(d["M"], e, style, color=f"C{i}", label=f"{kind}, $L = {L}$", lw=0.9)
            ax_r.loglog(L * d["M"], e, style, color=f"C{i}", label=f"{kind}, $L = {L}$", lw=0.9)
    for kind, style in (("iid", ":"), ("tied", "-.")):
        slope = result.slopes[kind]
        ax.loglog(
            d["M"][d["fit_mask"]],
            d[f"fit_{kind}"][d["fit_mask"]],
            style,
            color="0.2",
            lw=0.8,
            label=f"fit {kind}: slope {slope:.2f}",
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
    ax.legend(fontsize=6)
    return fig


@house_style
def plot_tokens(result):
    """Query error against ``n`` (log-log), with the fit and the ``n^{-1/2}`` law."""
    d = result.data
    fig, ax = new_figure(1, height=2.6)
    ax.loglog(d["n"], d["error"], "o", label="sampled tokens (RMS over seeds)")
    ax.loglog(d["n"], d["fit"], "-", label=f"fit: slope {result.slope:.2f}")
    ax.loglog(
        d["n"], d["fit"][0] * (d["n"] / d["n"][0]) ** -0.5, ":", color="0.3", label="$n^{-1/2}$"
    )
    ax.set(
        xlabel="tokens $n$ (dimensionless)",
        ylabel="$|\\xi^L - \\xi^L_{\\rm Gauss}|$ (dimensionless)",
        title="error against tokens $n$",
    )
    ax.legend()
    return fig


@house_style
def plot_stability(result):
    """``|Δ output| / δ`` against ``δ`` for each direction: heads (left) and tokens (right)."""
    d = result.data
    fig, axes = new_figure(2, width="page", height=2.6)
    for ax, kind, label in zip(
        axes,
        ("theta", "tokens"),
        ("heads, $D_{\\rm sync} = \\delta$", "tokens, $L^2(\\mu)$ norm $\\delta$"),
        strict=True,
    ):
        for r in d[f"ratio_{kind}"]:
            ax.semilogx(d["delta"], r, "o-", lw=0.8, ms=3)
        ax.set(
            xlabel="$\\delta$ (dimensionless)",
            ylabel="$|\\Delta\\,\\mathrm{output}|/\\delta$ (dimensionless)",
            title=label,
        )
    return fig

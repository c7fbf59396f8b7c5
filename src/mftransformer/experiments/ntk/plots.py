"""Chapter 4 figures: ``plot_<what>(result) -> Figure``, drawn from an experiment's result only,
in the house style of :mod:`mftransformer.companion.figures`."""

import numpy as np

from ...companion.figures import house_style, new_figure
from ...solver import families as fam
from ...solver import ntk

__all__ = [
    "plot_blocks",
    "plot_lse_families",
    "plot_agreement",
    "plot_spectra",
    "plot_scan",
    "plot_empirical_gauss",
    "plot_mean_field",
    "plot_rank",
    "verdict_table",
]


@house_style
def plot_blocks(result):
    r"""The kernel and its two blocks (closed form), and
    :math:`|\mathbf K_{\rm closed} - \mathbf K_{\rm jax}|` (log scale)."""
    d = result.data
    fig, axes = new_figure(4, width="page", height=2.0)
    titles = ("$\\mathbf{K}^V$", "$\\mathbf{K}^{QK}$", "$\\mathbf{K}$")
    vmax = float(np.max(np.abs(d["K"])))
    for ax, name, title in zip(axes[:3], ("K_V", "K_QK", "K"), titles, strict=True):
        im = ax.imshow(d[name], cmap="RdBu_r", vmin=-vmax, vmax=vmax)
        ax.set(title=title, xticks=[], yticks=[])
    fig.colorbar(im, ax=axes[2], shrink=0.8).set_label("entry (dimensionless)")
    im = axes[3].imshow(np.log10(np.maximum(d["difference"], 1e-18)), cmap="viridis")
    axes[3].set(title="$\\log_{10}|$closed form $-$ JAX$|$", xticks=[], yticks=[])
    fig.colorbar(im, ax=axes[3], shrink=0.8).set_label("$\\log_{10}$ difference (dimensionless)")
    return fig


@house_style
def plot_lse_families(result):
    r""":math:`\sigma_{\min}/\sigma_{\max}` per family, modulo affine functions and modulo
    constants, with the two thresholds and the inconclusive zone between them; values at the
    floor are drawn at :math:`10^{-17}`. Families expected to hold, to be ill-conditioned and to
    fail are separated by lines."""
    d = result.data
    fig, ax = new_figure(1, width="page", height=2.6)
    x = d["index"]
    floor = 1e-17
    ax.axhspan(
        ntk.DEPENDENT_BELOW, ntk.INDEPENDENT_ABOVE, color="0.92", lw=0, label="ill-conditioned"
    )
    ax.bar(x - 0.2, np.maximum(d["ratio_affine"], floor), 0.4, label="modulo affine")
    ax.bar(x + 0.2, np.maximum(d["ratio_constant"], floor), 0.4, label="modulo constants")
    ax.axhline(ntk.INDEPENDENT_ABOVE, color="C2", ls="--", lw=0.9, label="independent above")
    ax.axhline(ntk.DEPENDENT_BELOW, color="C1", ls="--", lw=0.9, label="dependent below")
    holds, fails = int(np.sum(d["holds"])), int(np.sum(d["fails"]))
    for split in (holds - 0.5, x.size - fails - 0.5):
        ax.axvline(split, color="0.3", lw=0.8)
    ax.set(
        xticks=x,
        yscale="log",
        ylim=(floor / 3, 1e7),
        xlabel="family: expected to hold | ill-conditioned | to fail (dimensionless)",
        ylabel="$\\sigma_{\\min}/\\sigma_{\\max}$ (dimensionless)",
        title="LSE test per family",
    )
    ax.set_xticklabels(result.names)
    ax.legend(ncol=5, loc="upper center")
    return fig


def _slope(x, y):
    """The slope of a fitted line drawn in log-log axes (the first key's fit)."""
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


_VERDICT_STYLE = {  # verdict code -> (label, colour, marker)
    2: ("holds", "C2", "o"),
    1: ("ill-conditioned", "C0", "D"),
    0: ("fails", "C1", "s"),
}


def _zones(ax, axis):
    """Shade the inconclusive zone between the thresholds along one axis, and draw them."""
    span = ax.axvspan if axis == "x" else ax.axhspan
    line = ax.axvline if axis == "x" else ax.axhline
    span(ntk.DEPENDENT_BELOW, ntk.INDEPENDENT_ABOVE, color="0.92", lw=0, zorder=0)
    for bound in (ntk.DEPENDENT_BELOW, ntk.INDEPENDENT_ABOVE):
        line(bound, color="0.5", ls="--", lw=0.7, zorder=1)


def _label_groups(ax, x, y, names, right):
    """One label per group of points that sit together (failing families share the floor)."""
    groups = []
    for xi, yi, name in zip(np.log10(x), np.log10(y), names, strict=True):
        near = next((g for g in groups if abs(g[0] - xi) < 1.5 and abs(g[1] - yi) < 1.5), None)
        if near is None:
            groups.append([xi, yi, [name]])
        else:
            near[2].append(name)
    for xi, yi, group in groups:
        text = "\n".join(", ".join(group[i : i + 4]) for i in range(0, len(group), 4))
        ax.annotate(
            text,
            (10**xi, 10**yi),
            fontsize=6.5,
            xytext=(-4 if xi > right else 4, 4),
            textcoords="offset points",
            ha="right" if xi > right else "left",
            va="bottom",
        )


@house_style
def plot_agreement(result):
    r"""Left: the kernel's feature ratio (centred) against the LSE
    :math:`\sigma_{\min}/\sigma_{\max}` (modulo affine), one point per family, coloured by the LSE
    verdict, with the inconclusive zones. Right: the families not found dependent, the feature
    ratio (filled) and :math:`\sqrt{\lambda_{\min}/\lambda_{\max}}` (open) against the LSE test at
    the heads' query law, with the diagonal and one decade either side."""
    d = result.data
    fig, (ax, ax_r) = new_figure(2, width="page", height=3.0)
    floor = 1e-18
    x, y = np.maximum(d["lse_ratio"], floor), np.maximum(d["feature_ratio"], floor)
    for code, (label, color, marker) in _VERDICT_STYLE.items():
        mask = d["lse_verdict"] == code
        ax.loglog(x[mask], y[mask], marker, color=color, label=f"LSE test: {label}", zorder=3)
    _zones(ax, "x")
    _zones(ax, "y")
    _label_groups(ax, x, y, result.names, np.log10(x).max() - 3)
    ax.set(
        xlabel="LSE $\\sigma_{\\min}/\\sigma_{\\max}$ (mod affine, dimensionless)",
        ylabel="kernel features $\\sigma_{\\min}/\\sigma_{\\max}$ (dimensionless)",
        title="three verdicts, the same on both sides",
        xlim=(floor / 10, 10),
        ylim=(floor / 10, 1e3),
    )
    ax.legend(loc="upper left")
    keep = d["lse_verdict"] > 0
    xr = d["lse_heads_ratio"][keep]
    grid = np.array([xr.min() / 10, 1.0])
    ax_r.fill_between(grid, grid / 10, grid * 10, color="0.92", lw=0, label="one decade")
    ax_r.loglog(grid, grid, "-", color="0.4", lw=0.8, label="equal")
    ax_r.loglog(xr, d["feature_ratio"][keep], "o", color="C0", label="feature ratio")
    root = np.sqrt(np.maximum(d["ntk_ratio"][keep], floor))
    ax_r.loglog(
        xr, root, "o", mfc="none", color="C3", label="$\\sqrt{\\lambda_{\\min}/\\lambda_{\\max}}$"
    )
    ax_r.set(
        xlabel="LSE $\\sigma_{\\min}/\\sigma_{\\max}$ at the heads' queries (dimensionless)",
        ylabel="kernel ratio (dimensionless)",
        title="the same order; $\\sqrt{\\lambda}$ stops at its floor",
    )
    ax_r.legend(loc="upper left")
    return fig


@house_style
def plot_spectra(result):
    r"""Eigenvalues of :math:`\mathbf K`, :math:`\mathbf K^V`, :math:`\mathbf K^{QK}` for BB, CV
    (centred) and uncentred translates."""
    d = result.data
    fig, axes = new_figure(3, width="page", height=2.4, sharey=True)
    floor = 1e-18
    for ax, name in zip(axes, ("BB", "CV", "T uncentred"), strict=True):
        for k, (block, marker) in enumerate((("K", "o"), ("K_V", "s"), ("K_QK", "^"))):
            lam = np.maximum(np.abs(d[f"spectrum_{name.replace(' ', '_')}_{block}"]), floor)
            ax.semilogy(
                np.arange(lam.size) + 0.1 * (k - 1),
                lam,
                marker,
                color=f"C{k}",
                label=f"${block.replace('_QK', '^{QK}').replace('_V', '^V')}$",
            )
        ax.axhline(floor * 10, color="0.5", lw=0.6)
        ax.set(title=name, xlabel="index (dimensionless)", xticks=range(lam.size))
    axes[0].set_ylabel("$|\\lambda|$ (dimensionless)")
    axes[0].legend()
    return fig


@house_style
def plot_scan(result):
    r"""Left: the LSE ratio, the kernel's feature ratio and :math:`\lambda_{\min}/\lambda_{\max}`
    against the deformation :math:`t`, with the inconclusive zone. Right:
    :math:`\lambda_{\min}/\lambda_{\max}` against the LSE ratio with the fitted line (slope 2
    expected), the points at the floor left out of the fit."""
    d = result.data
    fig, (ax, ax_r) = new_figure(2, width="page", height=2.8)
    floor = 1e-18
    pos = d["t"] > 0
    t = d["t"][pos]
    _zones(ax, "y")
    lse_label = "LSE $\\sigma_{\\min}/\\sigma_{\\max}$"
    ax.loglog(t, d["lse_ratio"][pos], "o--", color="C0", mfc="none", ms=7, label=lse_label)
    ax.loglog(t, d["feature_ratio"][pos], "D-", color="C2", ms=3, label="kernel features")
    ntk_label = "NTK $\\lambda_{\\min}/\\lambda_{\\max}$"
    ax.loglog(t, np.maximum(d["ntk_ratio"][pos], floor), "s-", color="C3", label=ntk_label)
    ax.set(
        xlabel="deformation $t$ (dimensionless)",
        title="leaving the translates",
        ylabel="ratio (dimensionless)",
        ylim=(floor / 10, 1e6),
    )
    ax.legend(loc="upper left", ncol=2)
    m = d["fit_mask"]
    x, y = np.maximum(d["lse_ratio"], floor), np.maximum(d["ntk_ratio"], floor)
    ax_r.loglog(x[m], y[m], "o", color="C3", label="fitted")
    ax_r.loglog(x[~m], y[~m], "o", mfc="none", color="C3", label="at the floor ($t = 0$ too)")
    ax_r.loglog(
        x[m],
        d["fit"][m],
        "-",
        color="0.3",
        lw=0.9,
        label=f"fit, first key: slope {_slope(x[m], d['fit'][m]):.2f} (2 expected)",
    )
    ax_r.set(
        xlabel="LSE $\\sigma_{\\min}/\\sigma_{\\max}$ (dimensionless)",
        ylabel="NTK $\\lambda_{\\min}/\\lambda_{\\max}$ (dimensionless)",
        title="the eigenvalues square the ratio",
        ylim=(floor / 10, 1e6),
    )
    ax_r.legend(loc="upper left")
    return fig


@house_style
def plot_empirical_gauss(result):
    r""":math:`\sigma_{\min}/\sigma_{\max}` of two sampled 1D Gaussians against :math:`n`: the
    first key's seeds (dots), geometric mean and fitted line, and the geometric means of the other
    keys."""
    d = result.data
    fig, ax = new_figure(1, height=2.8)
    ax.loglog(np.repeat(d["n"], d["ratio"].shape[1]), d["ratio"].ravel(), ".", color="0.7", ms=2)
    others = d["geometric_mean_keys"][:, 1:]
    ax.loglog(
        np.repeat(d["n"], others.shape[1]), others.ravel(), "_", color="C4", ms=6,
        label="geometric mean, other keys",
    )  # fmt: skip
    ax.loglog(d["n"], d["geometric_mean"], "o", color="C0", label="geometric mean, first key")
    m = d["fit_mask"]
    ax.loglog(
        d["n"][m],
        d["fit"][m],
        "-",
        color="C0",
        label=f"fit, first key: slope {_slope(d['n'][m], d['fit'][m]):.2f} (about $-1/2$)",
    )
    ax.set(
        xlabel="samples $n$ (dimensionless)",
        ylabel="$\\sigma_{\\min}/\\sigma_{\\max}$ (dimensionless)",
        title="sampled Gaussians: nearly dependent",
    )
    ax.legend()
    return fig


@house_style
def plot_mean_field(result):
    r"""Left: relative error against :math:`P` with the fit. Right: eigenvalues of
    :math:`\mathbf K` (one draw) per :math:`P` and those of :math:`\mathbf K^\infty` (lines)."""
    d = result.data
    fig, (ax, ax_r) = new_figure(2, width="page", height=2.6)
    ax.loglog(np.repeat(d["P"], d["error"].shape[1]), d["error"].ravel(), ".", color="0.7", ms=2)
    others = d["rms_keys"][:, 1:]
    ax.loglog(
        np.repeat(d["P"], others.shape[1]), others.ravel(), "_", color="C4", ms=6,
        label="RMS, other keys",
    )  # fmt: skip
    ax.loglog(d["P"], d["rms"], "o", color="C0", label="RMS over seeds, first key")
    ax.loglog(
        d["P"],
        d["fit"],
        "-",
        color="C0",
        label=f"fit, first key: slope {_slope(d['P'], d['fit']):.2f} ($-1/2$ expected)",
    )
    ax.set(
        xlabel="head pairs $P$ (dimensionless)",
        ylabel="$\\|K_P - K^\\infty\\|_F/\\|K^\\infty\\|_F$ (dimensionless)",
        title="width: error against $P$",
    )
    ax.legend()
    for k in range(d["eigenvalues"].shape[1]):
        ax_r.semilogx(d["P"], d["eigenvalues"][:, k], "o-", color=f"C{k % 8}", lw=0.8)
        ax_r.axhline(d["eigenvalues_infinite"][k], color=f"C{k % 8}", ls="--", lw=0.8)
    ax_r.set(
        xlabel="head pairs $P$ (dimensionless)",
        ylabel="eigenvalues (dimensionless)",
        yscale="log",
        title="$K_P$ (dots) and $K^\\infty$ (dashed)",
    )
    return fig


@house_style
def plot_rank(result):
    r"""Numerical rank of :math:`\mathbf K` against the number of head pairs, with the bound."""
    d = result.data
    fig, ax = new_figure(1, height=2.4)
    ax.plot(d["P"], d["bound"], "-", color="0.3", label="$\\min(N d_{out}, P d (d_{out}+1))$")
    ax.plot(d["P"], d["rank"], "o", color="C0", label="rank of $K$")
    ax.set(
        xlabel="head pairs $P$ (dimensionless)",
        ylabel="rank (dimensionless)",
        title="too few heads: singular by rank",
    )
    ax.legend()
    return fig


def verdict_table(result) -> str:
    r"""The verdict table of :func:`~.run.model_families` (its first key) as Markdown: per family
    the predicted verdict, the LSE ratio and verdict, the kernel's feature ratio, its
    :math:`\lambda_{\min}/\lambda_{\max}` and its verdict."""
    head = (
        "| family | predicted | LSE $\\sigma_{\\min}/\\sigma_{\\max}$ | LSE verdict "
        "| kernel features $\\sigma_{\\min}/\\sigma_{\\max}$ | $\\lambda_{\\min}/\\lambda_{\\max}$ "
        "| kernel verdict |\n|---|---|---|---|---|---|---|\n"
    )
    rows = []
    for name in result.names:
        r = result.rows[name]
        predicted = fam.TABLE[name].affine if name in fam.TABLE else "independent (sampled)"
        rows.append(
            f"| {name} | {predicted} | {r['lse']:.1e} | {r['lse_verdict']} | "
            f"{r['features']:.1e} | {r['K']:.1e} | {r['ntk_verdict']} |"
        )
    return head + "\n".join(rows)

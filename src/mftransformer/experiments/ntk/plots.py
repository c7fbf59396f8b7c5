"""Chapter 4 figures: ``plot_<what>(result) -> Figure``, drawn from an experiment's result only
(STYLE.md §9), in the house style of :mod:`mftransformer.companion.figures`."""

import numpy as np

from ...companion.figures import house_style, new_figure
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
]


@house_style
def plot_blocks(result):
    """The kernel and its two blocks (closed form), and ``|K_closed − K_jax|`` (log scale)."""
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
    """``σ_min/σ_max`` per family, modulo affine functions and modulo constants, with the two
    thresholds; values at the floor are drawn at 10⁻¹⁷."""
    d = result.data
    fig, ax = new_figure(1, width="page", height=2.6)
    x = d["index"]
    floor = 1e-17
    ax.bar(x - 0.2, np.maximum(d["ratio_affine"], floor), 0.4, label="modulo affine")
    ax.bar(x + 0.2, np.maximum(d["ratio_constant"], floor), 0.4, label="modulo constants")
    ax.axhline(ntk.INDEPENDENT_ABOVE, color="C2", ls="--", lw=0.9, label="independent above")
    ax.axhline(ntk.DEPENDENT_BELOW, color="C1", ls="--", lw=0.9, label="dependent below")
    split = int(np.sum(d["holds"])) - 0.5
    ax.axvline(split, color="0.3", lw=0.8)
    ax.set(
        xticks=x,
        yscale="log",
        ylim=(floor / 3, 1e5),
        xlabel="family (expected to hold left of the line, to fail right of it) (dimensionless)",
        ylabel="$\\sigma_{\\min}/\\sigma_{\\max}$ (dimensionless)",
        title="LSE test per family",
    )
    ax.set_xticklabels(result.names)
    ax.legend(ncol=4, loc="upper center")
    return fig


@house_style
def plot_agreement(result):
    """NTK ``λ_min/λ_max`` (centred) against the LSE ``σ_min/σ_max`` (modulo affine), one point per
    family; both vanish together."""
    d = result.data
    fig, ax = new_figure(1, height=3.0)
    floor = 1e-18
    x, y = np.maximum(d["lse_ratio"], floor), np.maximum(d["ntk_ratio"], floor)
    for mask, label, color, marker in (
        (d["holds"], "expected to hold", "C2", "o"),
        (~d["holds"] & ~d["sampled"], "expected to fail", "C1", "s"),
        (d["sampled"], "G1 from samples", "C0", "^"),
    ):
        ax.loglog(x[mask], y[mask], marker, color=color, label=label)
    # one label per group of points that sit together (failing families share the floor)
    groups = []
    for xi, yi, name in zip(np.log10(x), np.log10(y), result.names, strict=True):
        near = next((g for g in groups if abs(g[0] - xi) < 1.5 and abs(g[1] - yi) < 1.5), None)
        if near is None:
            groups.append([xi, yi, [name]])
        else:
            near[2].append(name)
    right = np.log10(x).max() - 3
    for xi, yi, names in groups:
        text = "\n".join(", ".join(names[i : i + 4]) for i in range(0, len(names), 4))
        ax.annotate(
            text,
            (10**xi, 10**yi),
            fontsize=6.5,
            xytext=(-4 if xi > right else 4, 4),
            textcoords="offset points",
            ha="right" if xi > right else "left",
            va="bottom",
        )
    ax.axvline(ntk.DEPENDENT_BELOW, color="0.4", ls="--", lw=0.8)
    ax.axhline(ntk.DEPENDENT_BELOW, color="0.4", ls="--", lw=0.8)
    ax.set(
        xlabel="LSE $\\sigma_{\\min}/\\sigma_{\\max}$ (mod affine)",
        ylabel="NTK $\\lambda_{\\min}/\\lambda_{\\max}$ (centred)",
        title="the two criteria agree",
    )
    ax.legend(loc="upper left")
    return fig


@house_style
def plot_spectra(result):
    """Eigenvalues of ``K``, ``K^V``, ``K^QK`` for BB, CV (centred) and uncentred translates."""
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
    """Left: both quantities against the deformation ``t``. Right: one against the other with the
    fitted line (slope 2 expected)."""
    d = result.data
    fig, (ax, ax_r) = new_figure(2, width="page", height=2.6)
    floor = 1e-18
    t = np.where(d["t"] > 0, d["t"], np.nan)
    ax.loglog(t, d["lse_ratio"], "o-", label="LSE $\\sigma_{\\min}/\\sigma_{\\max}$")
    ax.loglog(t, d["ntk_ratio"], "s-", label="NTK $\\lambda_{\\min}/\\lambda_{\\max}$")
    ax.set(
        xlabel="deformation $t$ (dimensionless)",
        title="leaving the translates",
        ylabel="ratio (dimensionless)",
    )
    ax.legend()
    x, y = np.maximum(d["lse_ratio"], floor), np.maximum(d["ntk_ratio"], floor)
    ax_r.loglog(x, y, "o", color="C2", label="scan ($t = 0$ at the floor)")
    ax_r.loglog(
        x,
        d["fit"],
        "-",
        color="0.3",
        lw=0.9,
        label=f"fit: slope {result.slope:.2f} (2 expected)",
    )
    ax_r.set(
        xlabel="LSE $\\sigma_{\\min}/\\sigma_{\\max}$ (dimensionless)",
        ylabel="NTK $\\lambda_{\\min}/\\lambda_{\\max}$ (dimensionless)",
        title="they vanish together",
    )
    ax_r.legend(loc="upper left")
    return fig


@house_style
def plot_empirical_gauss(result):
    """``σ_min/σ_max`` of two sampled 1D Gaussians against ``n`` (seeds as dots, geometric mean,
    fitted line)."""
    d = result.data
    fig, ax = new_figure(1, height=2.8)
    ax.loglog(np.repeat(d["n"], d["ratio"].shape[1]), d["ratio"].ravel(), ".", color="0.7", ms=2)
    ax.loglog(d["n"], d["geometric_mean"], "o", color="C0", label="geometric mean")
    m = d["fit_mask"]
    ax.loglog(
        d["n"][m],
        d["fit"][m],
        "-",
        color="C0",
        label=f"fit: slope {result.slope:.2f} (about $-1/2$)",
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
    """Left: relative error against ``P`` with the fit. Right: eigenvalues of ``K`` (one draw) per
    ``P`` and those of ``K^∞`` (lines)."""
    d = result.data
    fig, (ax, ax_r) = new_figure(2, width="page", height=2.6)
    ax.loglog(np.repeat(d["P"], d["error"].shape[1]), d["error"].ravel(), ".", color="0.7", ms=2)
    ax.loglog(d["P"], d["rms"], "o", color="C0", label="RMS over seeds")
    ax.loglog(
        d["P"],
        d["fit"],
        "-",
        color="C0",
        label=f"fit: slope {result.slope:.2f} ($-1/2$ expected)",
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
    """Numerical rank of ``K`` against the number of head pairs, with the bound."""
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

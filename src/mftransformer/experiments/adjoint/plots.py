"""Chapter 2 figures: ``plot_<what>(result) -> Figure``, drawn from an experiment's result only
(STYLE.md §9), in the house style of :mod:`mftransformer.companion.figures`."""

import numpy as np

from ...companion.figures import house_style, new_figure
from .claims import CLAIMS
from .run import MODES

__all__ = ["plot_field", "plot_agreement", "plot_interaction", "plot_depth", "plot_memory"]


@house_style
def plot_field(result):
    """Token trajectories of one context with the adjoint field ``p_s = λ/a`` at a few layers."""
    d = result.data
    fig, ax = new_figure(1, height=3.0)
    z, pf = d["states"], d["p"]
    for k in range(z.shape[1]):
        ax.plot(z[:, k, 0], z[:, k, 1], "-", color="0.6", lw=0.7)
    ax.plot(z[0, :, 0], z[0, :, 1], "o", color="0.4", ms=2.5, label="$s = 0$")
    for i, l in enumerate(d["layers"]):
        ax.quiver(
            z[l, :, 0],
            z[l, :, 1],
            pf[l, :, 0],
            pf[l, :, 1],
            color=f"C{i}",
            angles="xy",
            width=0.006,
            label=f"$p_s$, $s = {l / (z.shape[0] - 1):.2f}$",
        )
    ax.set(
        xlabel="$x_1$ (dimensionless)",
        ylabel="$x_2$ (dimensionless)",
        title="adjoint field on trajectories",
    )
    ax.set_aspect("equal", adjustable="datalim")
    ax.legend(fontsize="x-small")
    return fig


@house_style
def plot_agreement(result):
    """Relative error of central differences against the adjoint's directional derivative, as a
    function of the step ``ε`` (log-log), with the ``ε²`` slope."""
    d = result.data
    fig, ax = new_figure(1, height=2.8)
    for row in d["fd_error_all"]:
        ax.loglog(d["eps"], row, "-", color="0.75", lw=0.6)
    ax.loglog(
        d["eps"], d["fd_error_exact"], "o-", color="C0", label="exact adjoint (worst direction)"
    )
    ax.loglog(d["eps"], d["fd_error_autodiff"], "x", color="C1", label="jax.grad (worst direction)")
    e0 = d["fd_error_exact"][np.argmin(abs(d["eps"] - 1e-3))]
    ax.loglog(
        d["eps"], e0 * (d["eps"] / 1e-3) ** 2, ":", color="k", label=r"slope 2 ($\varepsilon^2$)"
    )
    ax.set(
        xlabel=r"step $\varepsilon$ (dimensionless)",
        ylabel="relative error (dimensionless)",
        title="finite differences",
    )
    ax.legend(fontsize="x-small")
    return fig


@house_style
def plot_interaction(result):
    """Relative gradient error of the frozen-context adjoint, per instance, for ``A`` and ``V``."""
    d = result.data
    fig, ax = new_figure(1, height=2.6)
    i = np.arange(d["error_A"].size)
    ax.bar(i - 0.2, 100 * d["error_A"], 0.4, color="C0", label="$A$")
    ax.bar(i + 0.2, 100 * d["error_V"], 0.4, color="C1", label="$V$")
    ax.axhline(100 * CLAIMS["interaction_needed"].band, color="k", ls=":", lw=0.8, label="5 %")
    ax.set(
        xlabel="instance (dimensionless)",
        ylabel="gradient error without\ninteraction term (%)",
        title="dropping the interaction term",
    )
    ax.set_xticks(i)
    ax.legend(fontsize="x-small")
    return fig


@house_style
def plot_depth(result):
    """Gradient error against ``L`` (log-log) with the fitted lines and the expected orders."""
    d = result.data
    slopes = result.slopes
    fig, ax = new_figure(1, height=3.0)
    curves = (
        ("euler", "continuous adjoint, Euler", 1),
        ("heun", "continuous adjoint, Heun", 2),
        ("exact", "Euler network, exact gradient", 1),
    )
    for i, (k, label, order) in enumerate(curves):
        ax.loglog(d["L"], d[f"error_{k}"], "os^v"[i], color=f"C{i}")
        ax.loglog(
            d["L"],
            d[f"fit_{k}"],
            "-",
            color=f"C{i}",
            label=f"{label}: slope {slopes[k]:.2f} (order {order})",
        )
    ax.set(
        xlabel="depth steps $L$ (dimensionless)",
        ylabel="relative gradient error (dimensionless)",
        title="COT gradient against depth",
    )
    ax.legend(fontsize="x-small")
    return fig


@house_style
def plot_memory(result):
    """Working memory (left) and wall time (right) of the four gradient programs against ``L``."""
    d = result.data
    fig, (ax, ax_t) = new_figure(2, width="page", height=2.8)
    for i, m in enumerate(MODES):
        ax.loglog(d["L"], d[f"temp_{m}"], "o-", color=f"C{i}", label=m.replace("_", " + "))
        ax_t.loglog(d["L"], d[f"seconds_{m}"], "o-", color=f"C{i}", label=m.replace("_", " + "))
    ax.set(
        xlabel="layers $L$ (dimensionless)",
        ylabel="working memory (bytes)",
        title="compiled memory",
    )
    ax_t.set(
        xlabel="layers $L$ (dimensionless)", ylabel="time per gradient (s)", title="time (CPU)"
    )
    ax.legend(fontsize="x-small")
    return fig

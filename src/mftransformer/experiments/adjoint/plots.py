"""Chapter 2 figures: ``plot_<what>(result) -> Figure``, drawn from an experiment's result only,
in the house style of :mod:`mftransformer.companion.figures`."""

import numpy as np

from ...companion.figures import house_style, new_figure
from .claims import CLAIMS
from .run import ABLATIONS, MODES, TASKS

__all__ = [
    "plot_field",
    "plot_agreement",
    "plot_interaction",
    "plot_probe",
    "plot_landscape",
    "plot_depth",
    "plot_memory",
]

#: How the ablations are named in the figures.
ABLATION_LABELS = {
    "token_to_token": "without token→token",
    "query_to_token": "without query→token",
    "both": "without both (frozen context)",
}


@house_style
def plot_field(result):
    r"""Token trajectories of one context with the adjoint field :math:`p_s = \lambda/a` at a few
    layers."""
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
    r"""Relative error of central differences against the adjoint's directional derivative, as a
    function of the step :math:`\varepsilon` (log-log), with the :math:`\varepsilon^2` slope."""
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
    """Relative gradient error of the three ablations on tasks T, C and T + C: the median over
    the keys (bars) and their range (error bars), with the 5 % band of ``interaction_needed``."""
    errors = result.errors
    fig, ax = new_figure(1, height=2.8)
    x = np.arange(len(TASKS))
    width = 0.8 / len(ABLATIONS)
    for i, ablation in enumerate(ABLATIONS):
        rows = np.array([100 * errors[task, ablation] for task in TASKS])  # (tasks, keys)
        med = np.median(rows, axis=1)
        spread = np.stack([med - rows.min(axis=1), rows.max(axis=1) - med])
        ax.bar(
            x + (i - 1) * width,
            med,
            width,
            yerr=spread,
            capsize=2,
            color=f"C{i}",
            label=ABLATION_LABELS[ablation],
        )
    band = 100 * CLAIMS["interaction_needed"].band
    ax.axhline(band, color="k", ls=":", lw=0.8, label=f"{band:g} % (median, task T + C)")
    top = max(float(np.max(100 * v)) for v in errors.values())
    ax.set_ylim(0, 1.6 * top)
    ax.set_xticks(x, [f"task {t}" for t in TASKS])
    ax.set(
        xlabel="task (targets of the risk)",
        ylabel="gradient error (%)",
        title="dropping parts of the interaction term",
    )
    ax.legend(fontsize="x-small", loc="upper left", ncols=2)
    return fig


@house_style
def plot_probe(result):
    r"""Successive differences :math:`\|q_{2L} - q_L\|` of the first variation at :math:`s = 1/2`
    against :math:`L` (log-log), one line per key, with the slope −1 of order one."""
    d = result.data
    fig, ax = new_figure(1, height=2.8)
    L = d["L"]
    for i, row in enumerate(d["differences"]):
        ax.loglog(
            L, row, "o-", color="C0", alpha=0.6, ms=3, lw=0.8, label="keys" if i == 0 else None
        )
    ref = np.median(d["differences"][:, 0]) * (L / L[0]) ** -1.0
    ax.loglog(L, ref, ":", color="k", label="slope −1 (order 1)")
    ax.set(
        xlabel="depth steps $L$ (dimensionless)",
        ylabel="$\\|q_{2L}-q_L\\| / \\|q_{L_{\\max}}\\|$ (dimensionless)",
        title="first variation at $s = 1/2$ against depth",
    )
    ax.legend(fontsize="x-small", loc="lower left")
    return fig


@house_style
def plot_landscape(result):
    r"""Heat map of the first variation :math:`\frac{\delta R}{\delta\nu}(1/2, \theta)` on the
    slice :math:`A = a I`, :math:`V = v e_1 e_1^\top`, with its level lines, the arrows
    :math:`-\nabla_{(a,v)}` and the layer's particles projected on the slice."""
    d = result.data
    fig, ax = new_figure(1, height=3.0)
    values = d["values"]
    vmax = float(np.abs(values).max())
    im = ax.pcolormesh(d["a"], d["v"], values, cmap="RdBu_r", vmin=-vmax, vmax=vmax, shading="auto")
    ax.contour(d["a"], d["v"], values, levels=9, colors="0.3", linewidths=0.4)
    at, arrows = d["arrows_at"], d["arrows"]
    ax.quiver(at[:, 0], at[:, 1], arrows[:, 0], arrows[:, 1], color="0.1", angles="xy", width=0.005)
    pts = d["particles"]
    ax.plot(pts[:, 0], pts[:, 1], "o", mfc="#ffd92f", mec="k", ms=5, label="heads of the layer")
    fig.colorbar(im, ax=ax, shrink=0.85).set_label("$\\delta R/\\delta\\nu$ (dimensionless)")
    ax.set(
        xlabel="$a$ in $A = aI$ (dimensionless)",
        ylabel="$v$ in $V = v\\,e_1e_1^\\top$ (dimensionless)",
        title=f"first variation at $s = {float(d['s']):.2f}$",
    )
    ax.legend(fontsize="x-small", loc="upper left", framealpha=0.9)
    return fig


@house_style
def plot_depth(result):
    """Gradient error against :math:`L` (log-log) with the fitted lines and the expected orders."""
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
    """Working memory (left) and wall time (right) of the four gradient programs against
    :math:`L`."""
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

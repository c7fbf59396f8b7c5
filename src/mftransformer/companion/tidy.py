"""The last step of every figure in the house style, before it is drawn to a file.

:func:`tidy` labels only the major ticks of log axes (so minor labels never collide) and moves a
legend that covers data to a free corner, else below the axes; :mod:`.figlint` then checks the
result.
"""

import numpy as np

__all__ = ["tidy"]


def tidy(fig) -> None:
    """Finish ``fig`` in the house style before it is drawn to a file: log axes label their
    major ticks only (adding 2, 3 and 5 when an axis spans about a decade or less), and a legend
    that covers data moves to a free corner, else out of the axes, below them."""
    from matplotlib.ticker import LogFormatterSciNotation, LogLocator, NullFormatter

    from .figlint import agg_canvas, legend_covers

    agg_canvas(fig)
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            if axis.get_scale() != "log" or not axis.get_ticklabels(which="both"):
                continue
            if isinstance(axis.get_major_formatter(), NullFormatter):
                continue
            axis.set_minor_formatter(NullFormatter())
            lo, hi = sorted(axis.get_view_interval())
            if lo > 0 and np.log10(hi / lo) < 1.2:
                axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 3.0, 5.0)))
                axis.set_major_formatter(LogFormatterSciNotation(labelOnlyBase=False))
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is None or getattr(legend, "_mft_placed", False):
            continue
        if not legend_covers(legend, ax, renderer):
            continue
        handles, labels = ax.get_legend_handles_labels()
        size = legend.get_texts()[0].get_fontsize() if legend.get_texts() else None
        placed = None
        for loc in (
            "upper right",
            "upper left",
            "lower left",
            "lower right",
            "center right",
            "center left",
            "upper center",
            "lower center",
        ):
            legend = ax.legend(handles, labels, loc=loc, fontsize=size)
            fig.canvas.draw()
            if not legend_covers(legend, ax, renderer):
                placed = legend
                break
        if placed is None:  # below the axes, under their tick labels and x label
            ncol = 2 if fig.get_figwidth() > 4 or len(labels) > 3 else 1
            below = ax.get_tightbbox(renderer).y0
            y = (below - ax.bbox.y0) / ax.bbox.height - 0.03
            placed = ax.legend(
                handles,
                labels,
                loc="upper center",
                bbox_to_anchor=(0.5, y),
                fontsize=size,
                ncol=ncol,
            )
        placed._mft_placed = True
        fig.canvas.draw()

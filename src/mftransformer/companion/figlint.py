"""The figure lint: what a reader would see as a defect, found on the drawn figure.

:func:`lint` draws a ``Figure`` and returns one line per problem (an empty list for a clean
figure):

- two text artists (titles, axis labels, tick labels, legend entries, annotations, colour-bar
  labels) whose bounding boxes overlap, e.g. colliding minor tick labels of a log axis;
- a text that leaves the figure canvas (a clipped title or legend);
- a legend that covers a data point (a marker or a vertex of a plotted line);
- an axis with tick labels but no label, or a label without a unit in parentheses at its end
  ("depth $s$ (dimensionless)", "time (s)").

:func:`~mftransformer.companion.figures.save_figure` records the result in the figure's
provenance (``"lint"``); ``tests/pipeline/test_figure_lint.py`` requires it to be empty for every
figure of the book, and re-draws each figure that the results store holds.
"""

import itertools
import re

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import Collection
from matplotlib.legend import Legend
from matplotlib.lines import Line2D
from matplotlib.text import Text

__all__ = ["lint", "legend_covers", "agg_canvas", "UNIT"]

#: An axis label ends with its unit in parentheses: "(dimensionless)", "(s)", "(relative)".
UNIT = re.compile(r"\([^()]*\S[^()]*\)\s*$")
_SLACK = 0.5  # pixels: boxes that only touch do not overlap


def lint(fig) -> list[str]:
    """The problems of ``fig`` (see the module docstring), in a stable order."""
    agg_canvas(fig)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = _texts(fig)
    boxes = [(_describe(t), t.get_window_extent(renderer)) for t in texts]
    problems = []
    canvas = fig.bbox
    for name, box in boxes:
        if (
            box.x0 < canvas.x0 - 1
            or box.y0 < canvas.y0 - 1
            or box.x1 > canvas.x1 + 1
            or box.y1 > canvas.y1 + 1
        ):
            problems.append(f"text leaves the canvas: {name}")
    for (n1, b1), (n2, b2) in itertools.combinations(boxes, 2):
        if _overlap(b1, b2):
            problems.append(f"texts overlap: {n1} and {n2}")
    for ax in _axes(fig):
        legend = ax.get_legend()
        if legend is not None and legend.get_visible():
            count = legend_covers(legend, ax, renderer)
            if count:
                problems.append(f"legend covers {count} data point(s): {_axes_name(ax)}")
        problems += _labels(ax)
    return problems


def legend_covers(legend: Legend, ax: Axes, renderer=None) -> int:
    """How many data points of ``ax`` (markers, line vertices, scatter offsets) lie under
    ``legend``."""
    renderer = renderer or ax.figure.canvas.get_renderer()
    box = legend.get_window_extent(renderer)
    points = _data_points(ax)
    if not len(points):
        return 0
    inside = (
        (points[:, 0] > box.x0 + _SLACK)
        & (points[:, 0] < box.x1 - _SLACK)
        & (points[:, 1] > box.y0 + _SLACK)
        & (points[:, 1] < box.y1 - _SLACK)
    )
    return int(inside.sum())


def agg_canvas(fig):
    """Give ``fig`` an Agg canvas (a ``Figure`` made outside pyplot has none that can draw)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    return fig.canvas


# ---------------------------------------------------------------- private
def _axes(fig):
    return [ax for ax in fig.axes if ax.get_visible() and ax.axison]


def _texts(fig) -> list[Text]:
    out = [t for t in fig.texts]
    for legend in fig.legends:
        out += legend.get_texts() + ([legend.get_title()] if legend.get_title() else [])
    for ax in _axes(fig):
        out += [ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label]
        out += [ax.xaxis.offsetText, ax.yaxis.offsetText]
        for axis in (ax.xaxis, ax.yaxis):
            out += _tick_labels(axis)
        out += [t for t in ax.texts]
        legend = ax.get_legend()
        if legend is not None and legend.get_visible():
            out += legend.get_texts()
            if legend.get_title().get_text():
                out.append(legend.get_title())
    return [t for t in out if t.get_visible() and t.get_text().strip()]


def _tick_labels(axis) -> list[Text]:
    lo, hi = sorted(axis.get_view_interval())
    out = []
    for tick in axis.get_major_ticks() + axis.get_minor_ticks():
        loc = tick.get_loc()
        if loc is None or not (lo - 1e-12 * abs(lo) <= loc <= hi + 1e-12 * abs(hi)):
            continue
        for label in (tick.label1, tick.label2):
            if label.get_visible() and label.get_text().strip():
                out.append(label)
    return out


def _overlap(b1, b2) -> bool:
    return bool(
        min(b1.x1, b2.x1) - max(b1.x0, b2.x0) > _SLACK
        and min(b1.y1, b2.y1) - max(b1.y0, b2.y0) > _SLACK
    )


def _describe(text: Text) -> str:
    value = text.get_text().replace("\n", " ")
    return repr(value if len(value) <= 40 else value[:37] + "...")


def _axes_name(ax) -> str:
    title = ax.get_title() or ax.get_ylabel() or ax.get_xlabel() or "untitled"
    return f"axes {title!r}"


def _data_points(ax) -> np.ndarray:
    pts = []
    for line in ax.lines:
        if not line.get_visible() or _is_rule(line):
            continue
        xy = np.column_stack(line.get_data(orig=False)).astype(float)
        if not len(xy):
            continue
        xy = line.get_transform().transform(xy)
        xy = xy[np.all(np.isfinite(xy), axis=1)]
        if line.get_linestyle() not in ("None", "none", " ", "") and len(xy) > 1:
            xy = _densify(xy)
        pts.append(xy)
    for coll in ax.collections:
        if isinstance(coll, Collection) and coll.get_visible():
            offsets = np.asarray(coll.get_offsets(), dtype=float)
            if offsets.ndim == 2 and len(offsets) and coll.get_offset_transform() is not None:
                xy = coll.get_offset_transform().transform(offsets)
                pts.append(xy[np.all(np.isfinite(xy), axis=1)])
    if not pts:
        return np.zeros((0, 2))
    xy = np.concatenate(pts)
    box = ax.bbox
    keep = (xy[:, 0] >= box.x0) & (xy[:, 0] <= box.x1) & (xy[:, 1] >= box.y0) & (xy[:, 1] <= box.y1)
    return xy[keep]


def _is_rule(line: Line2D) -> bool:
    """A reference rule (axhline/axvline): it spans the axes, so it is not data."""
    return line.get_transform() != line.axes.transData


def _densify(xy: np.ndarray, step: float = 2.0) -> np.ndarray:
    """Points every ``step`` pixels along a polyline (so a legend over a line is found)."""
    out = [xy[:1]]
    for a, b in itertools.pairwise(xy):
        n = int(min(np.hypot(*(b - a)) // step, 2000))
        if n > 1:
            t = np.linspace(0, 1, n + 1)[1:, None]
            out.append(a + t * (b - a))
        else:
            out.append(b[None])
    return np.concatenate(out)


def _labels(ax) -> list[str]:
    out = []
    for name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
        if not _tick_labels(axis):
            continue
        label = axis.label.get_text().strip()
        if not label:
            out.append(f"{name} axis has no label: {_axes_name(ax)}")
        elif not UNIT.search(label):
            out.append(
                f"{name} label {label!r} has no unit in parentheses (or '(dimensionless)'): "
                f"{_axes_name(ax)}"
            )
    return out

"""The house style of every figure, and ``save_figure``: PDF + SVG + PNG + data + provenance.

The style is the matplotlib style file ``mftransformer.mplstyle`` next to this module
(:data:`STYLE_FILE`): print widths of 3.4 in (one column) and 7 in (a page), 8 pt text, mathtext,
Okabe–Ito colours with a line style per colour, constrained layout. Plot functions are decorated
with :func:`house_style` so that every artist they make takes it; :func:`tidy` finishes a figure
before it is saved (major tick labels only on log axes, legends off the data), and the figure
lint (:mod:`.figlint`) records what is left in the provenance (``"lint"``). The page shows the
saved PNG, byte for byte, at its print width.

Figures are ``matplotlib.figure.Figure`` objects (no pyplot state). ``save_figure`` writes, into
``book/_static/figures/`` (or ``$MFT_FIGURE_DIR``), ``<fig_id>.pdf|svg|png``, ``<fig_id>.npz``
with the data as plotted, and ``<fig_id>.json`` with the provenance: figure id, chapter, parameter
set, resolved parameters and their hash, seed, checks, the function that computed the data, git
commit and dirty flag, package versions, the lock file's hash, the licence (CC BY 4.0), x64 flag,
data hash, and a ``run`` block (wall time, device) that byte comparisons skip. Every file is
written to a temporary name and renamed, and the bytes are stable: no dates in PDF/SVG, a fixed
SVG hash salt, fixed zip timestamps, sorted JSON.
"""

import io
import json
import os
import re
import sys
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from ..solver.errors import ParameterError
from .files import atomic_write
from .provenance import installed_versions, npz_bytes, provenance_record
from .tidy import tidy

__all__ = [
    "COLORS",
    "MARKERS",
    "LINESTYLES",
    "STYLE_FILE",
    "new_figure",
    "house_style",
    "tidy",
    "display_width_px",
    "save_figure",
    "figure_dir",
    "forget",
    "installed_versions",
    "FIGURE_ID",
    "STYLE",
    "EXTENSIONS",
]

#: The house style as a matplotlib style file, ``mftransformer.mplstyle``, shipped next to this
#: module (the value, a path of the installation, is not shown).
#:
#: :meta hide-value:
STYLE_FILE = Path(__file__).with_name("mftransformer.mplstyle")

#: rcParams of the house style, read from :data:`STYLE_FILE` (print sizes, 8 pt text, mathtext,
#: Okabe–Ito colours with a line style per colour, Type 42 fonts, no dates, fixed SVG salt).
STYLE = dict(matplotlib.rc_params_from_file(STYLE_FILE, use_default_template=False))

#: Okabe–Ito colour-blind-safe palette (the order of the style's colour cycle, ``C0``...).
COLORS = list(STYLE["axes.prop_cycle"].by_key()["color"])
#: A marker and a line style per colour of :data:`COLORS`, so that series read in grey too.
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
LINESTYLES = list(STYLE["axes.prop_cycle"].by_key()["linestyle"])

#: CSS pixels per inch: a figure is shown in the page at its print width.
CSS_DPI = 96

#: A figure id: ``ch<k>-<slug>``, lower-case words joined by hyphens (a portable file name).
FIGURE_ID = re.compile(r"^ch[1-9]-[a-z0-9]+(?:-[a-z0-9]+)*$")
_MAX_ID = 64

#: The files written for one figure, in the order the gallery lists them.
EXTENSIONS = ("pdf", "svg", "png", "npz", "json")

#: Print widths (inches): one journal column and a full page.
WIDTHS = {"column": 3.4, "page": 7.0}
_WIDTHS = WIDTHS
#: fig_id -> what made it in this process: (plot function, experiment, {params hash: data hash}).
_SAVED: dict[str, tuple] = {}


def new_figure(ncols: int = 1, nrows: int = 1, *, width: str = "column", height: float = 2.4, **kw):
    """A new ``Figure`` and its axes in the house style; ``width`` is ``"column"`` (3.4 in) or
    ``"page"`` (7 in), ``height`` in inches. Text is 8 pt at that size, whatever the width.

    The figure remembers the function that called ``new_figure`` (the plot function), which
    ``save_figure`` records and uses to refuse two different figures under one id.

    Raises:
        ParameterError: ``width`` not one of ``"column"``, ``"page"``.
    """
    if width not in _WIDTHS:
        raise ParameterError(f"new_figure: width = {width!r}; allowed one of {list(_WIDTHS)}.")
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(_WIDTHS[width], height), layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=True, **kw)
    fig._mft_plotted_by = _caller()
    _register_notebook_display()
    return fig, axes


def house_style(plot):
    """Decorate a plot function ``plot_<what>(result)``: it draws inside the house style, so that
    every artist it makes (legends, texts, ``"C1"`` colours) takes the style's sizes and colours,
    whatever the global rcParams."""
    import functools

    @functools.wraps(plot)
    def styled(*args, **kwargs):
        with matplotlib.rc_context(STYLE):
            return plot(*args, **kwargs)

    return styled


def _register_notebook_display() -> None:
    """Show a ``Figure`` (which lives outside pyplot) as a PNG when it ends a notebook cell or is
    glued: IPython only knows how to display figures once a pyplot backend is loaded."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return

    def png(fig):
        blob = getattr(fig, "_mft_png", None)  # the saved file's bytes, once saved
        if blob is None:
            with matplotlib.rc_context(STYLE):
                tidy(fig)
                blob = _render(fig, "png", metadata={"Software": None})
        return blob, {"width": display_width_px(fig)}

    shell.display_formatter.formatters["image/png"].for_type(Figure, png)


def display_width_px(fig) -> int:
    """The width (CSS pixels) at which the page shows ``fig``: its print width."""
    return round(fig.get_figwidth() * CSS_DPI)


def figure_dir() -> Path:
    """Where figures go: ``$MFT_FIGURE_DIR`` or ``<book>/_static/figures`` of the checkout."""
    env = os.environ.get("MFT_FIGURE_DIR")
    if env:
        return Path(env)
    cwd = Path.cwd()
    for base in [cwd, *cwd.parents]:
        if (base / "book" / "_config.yml").is_file():
            return base / "book" / "_static" / "figures"
        if (base / "_config.yml").is_file() and (base / "_toc.yml").is_file():
            return base / "_static" / "figures"
    return cwd / "figures"


def save_figure(
    fig,
    fig_id,
    *,
    data=None,
    params=None,
    result=None,
    checks=None,
    source: str | None = None,
    wall_s: float | None = None,
) -> dict:
    """Save ``fig`` as ``<fig_id>.{pdf,svg,png}``, its data (``.npz``) and provenance (``.json``).

    Everything is checked before anything is written: a bad id or missing data leaves no file.
    The same inputs give the same bytes in every file (the ``run`` block of the JSON, wall time
    and device, aside), so a figure can be cited by its id and checked by rebuilding it.

    Args:
        fig: the figure (a ``matplotlib.figure.Figure``, best made by :func:`new_figure`).
        fig_id: ``ch<k>-<slug>`` (at most 64 characters); ``k`` must be the chapter's number when
            ``params`` is given. It is the file stem, the MyST figure name and the gallery entry.
        data: dict ``{name: array}`` of the arrays as plotted (required, here or through
            ``result.data``); names are Python identifiers, arrays numeric or boolean.
        params: the chapter's :class:`~mftransformer.companion.params.Config`.
        result: an experiment :class:`~mftransformer.experiments.Result`; supplies ``data``,
            ``checks``, ``source`` and ``wall_s`` unless given explicitly.
        checks: a ``Check`` or ``Checks`` recorded in the provenance.
        source: ``module:function`` that computed the data.
        wall_s: seconds the computation took (recorded in the ``run`` block).

    Returns:
        the provenance record (as written to the JSON file).

    Raises:
        ParameterError: ``fig`` not a Figure; invalid id, id of another chapter, or an id already
            used in this session for a different figure; no data, or data that is not a dict of
            numeric arrays with identifier names.
    """
    if result is not None:
        data = result.data if data is None else data
        checks = result.check if checks is None else checks
        source = result.source if source is None else source
        wall_s = result.wall_s if wall_s is None else wall_s
    if not isinstance(fig, Figure):
        raise ParameterError(
            f"save_figure: fig = {type(fig).__name__}; allowed a matplotlib.figure.Figure "
            "(from mft.figures.new_figure or a plot_<what>(result) function)."
        )
    _check_id(fig_id, params)
    arrays = _check_data(fig_id, data)
    npz = npz_bytes(arrays)
    plotted_by = getattr(fig, "_mft_plotted_by", None)
    record = provenance_record(
        fig_id, chapter_number(fig_id), params, checks, source, plotted_by, npz, wall_s
    )
    made_by = (plotted_by, source, record["params_hash"], record["data_sha256"])
    _check_unique(fig_id, made_by)
    out = figure_dir()
    out.mkdir(parents=True, exist_ok=True)
    with matplotlib.rc_context(STYLE):
        tidy(fig)
        from .figlint import lint

        record["lint"] = lint(fig)
        blobs = {
            "pdf": _render(
                fig,
                "pdf",
                metadata={"CreationDate": None, "ModDate": None, "Creator": None, "Producer": None},
            ),
            "svg": _render(fig, "svg", metadata={"Date": None, "Creator": None}),
            "png": _render(fig, "png", metadata={"Software": None}),
        }
    fig._mft_png = blobs["png"]  # the page shows these bytes (the notebook display)
    blobs["npz"] = npz
    blobs["json"] = (json.dumps(record, indent=2, sort_keys=True) + "\n").encode()
    for ext in EXTENSIONS:
        atomic_write(out / f"{fig_id}.{ext}", blobs[ext])
    _remember(fig_id, made_by)
    return record


def forget(fig_id: str) -> None:
    """Forget that this process saved ``fig_id`` (so that it may be saved again, e.g. when
    reproducing a figure from its provenance)."""
    _SAVED.pop(fig_id, None)


def chapter_number(fig_id: str) -> int:
    """The chapter number ``k`` of a figure id ``ch<k>-<slug>``."""
    return int(fig_id[2 : fig_id.index("-")])


# ---------------------------------------------------------------- private
def _check_id(fig_id, params):
    if not isinstance(fig_id, str) or not FIGURE_ID.match(fig_id) or len(fig_id) > _MAX_ID:
        raise ParameterError(
            f"save_figure: fig_id = {fig_id!r}; allowed 'ch<k>-<slug>' of at most {_MAX_ID} "
            "characters: k in 1..9, then lower-case letters and digits in words joined by single "
            "hyphens (e.g. 'ch1-depth-rate'); it is the file name and the figure's label."
        )
    if params is not None:
        from .params import CHAPTERS

        number = list(CHAPTERS).index(params.chapter) + 1
        if chapter_number(fig_id) != number:
            raise ParameterError(
                f"save_figure: fig_id = {fig_id!r} in chapter '{params.chapter}'; allowed ids "
                f"starting with 'ch{number}-'."
            )


def _check_data(fig_id, data) -> dict:
    if not data:
        raise ParameterError(
            f"save_figure: figure '{fig_id}' has no data; pass data={{name: array}} (the arrays as "
            "plotted) or result=... so that readers can re-plot it."
        )
    if not isinstance(data, dict):
        raise ParameterError(
            f"save_figure: figure '{fig_id}': data = {type(data).__name__}; allowed a dict "
            "{name: array} of the arrays as plotted."
        )
    arrays = {}
    for name, value in sorted(data.items(), key=lambda kv: str(kv[0])):
        arr = np.asarray(value)
        if not (isinstance(name, str) and name.isidentifier()):
            raise ParameterError(
                f"save_figure: figure '{fig_id}': data key {name!r}; allowed a Python identifier "
                "(it names an array in the .npz file)."
            )
        if arr.dtype.kind not in "biufc":
            raise ParameterError(
                f"save_figure: figure '{fig_id}': data[{name!r}] has dtype {arr.dtype}; allowed "
                "numeric or boolean arrays (convert objects and strings to numbers or drop them)."
            )
        arrays[name] = arr
    return arrays


def _check_unique(fig_id, made_by):
    previous = _SAVED.get(fig_id)
    if previous is None:
        return
    (plot0, source0, data_by_params), (plot1, source1, params_hash, data1) = previous, made_by
    data0 = data_by_params.get(params_hash)
    differs = [
        f"plotted by {plot0} and {plot1}" if plot0 and plot1 and plot0 != plot1 else None,
        f"computed by {source0} and {source1}"
        if source0 and source1 and source0 != source1
        else None,
        "same parameters but different data" if data0 is not None and data0 != data1 else None,
    ]
    differs = [d for d in differs if d]
    if differs:
        raise ParameterError(
            f"save_figure: fig_id = {fig_id!r} is already used in this session by another figure "
            f"({'; '.join(differs)}); allowed: one id per figure. Give this figure its own id "
            "'ch<k>-<slug>'."
        )


def _remember(fig_id, made_by):
    plotted_by, source, params_hash, data_sha = made_by
    _, _, data_by_params = _SAVED.get(fig_id, (None, None, {}))
    _SAVED[fig_id] = (plotted_by, source, {**data_by_params, params_hash: data_sha})


def _caller() -> str:
    """``module:qualname`` of the first caller outside this module and type-checking wrappers."""
    frame = sys._getframe(1)
    while frame is not None:
        module = frame.f_globals.get("__name__") or "?"
        if module != __name__ and not module.startswith(("jaxtyping", "beartype", "typeguard")):
            return f"{module}:{frame.f_code.co_qualname}"
        frame = frame.f_back
    return "?"


def _render(fig, fmt, metadata):
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, metadata=metadata)
    return buf.getvalue()

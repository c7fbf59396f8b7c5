"""The house style of every figure, and ``save_figure``: PDF + SVG + PNG + data + provenance.

Figures are ``matplotlib.figure.Figure`` objects (no pyplot state). ``save_figure`` writes, into
``book/_static/figures/`` (or ``$MFT_FIGURE_DIR``), ``<fig_id>.pdf|svg|png``, ``<fig_id>.npz``
with the data as plotted, and ``<fig_id>.json`` with the provenance: figure id, chapter, parameter
set, resolved parameters and their hash, seed, checks, the function that computed the data, git
commit and dirty flag, package versions, x64 flag, data hash, and a ``run`` block (wall time,
device) that byte comparisons skip. Every file is written to a temporary name and renamed, and the
bytes are stable: no dates in PDF/SVG, a fixed SVG hash salt, fixed zip timestamps, sorted JSON.
"""

import hashlib
import io
import json
import os
import platform
import re
import subprocess
import zipfile
from importlib import metadata
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from .errors import ParameterError

__all__ = ["COLORS", "new_figure", "save_figure", "figure_dir", "FIGURE_ID", "STYLE"]

#: Okabe–Ito colour-blind-safe palette.
COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]

#: rcParams of the house style (mathtext, Type 42 fonts, no dates, fixed SVG salt).
STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": 200,
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.prop_cycle": matplotlib.cycler(color=COLORS),
    "lines.linewidth": 1.4,
    "lines.markersize": 4,
    "text.usetex": False,
    "mathtext.fontset": "dejavusans",
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "svg.fonttype": "path",
    "svg.hashsalt": "mftransformer",
}

#: A figure id: ``ch<k>-<slug>``, lower-case words joined by hyphens.
FIGURE_ID = re.compile(r"^ch[1-9]-[a-z0-9]+(?:-[a-z0-9]+)*$")

_WIDTHS = {"column": 3.4, "page": 7.0}
_SAVED: dict[str, str] = {}


def new_figure(ncols: int = 1, nrows: int = 1, *, width: str = "column", height: float = 2.6, **kw):
    """A new ``Figure`` and its axes in the house style; ``width`` is ``"column"`` or ``"page"``."""
    with matplotlib.rc_context(STYLE):
        fig = Figure(figsize=(_WIDTHS[width], height), layout="constrained")
        axes = fig.subplots(nrows, ncols, squeeze=True, **kw)
    return fig, axes


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


def save_figure(fig: Figure, fig_id: str, *, data=None, params=None, result=None, checks=None,
                source: str | None = None, wall_s: float | None = None) -> dict:
    """Save ``fig`` as ``<fig_id>.{pdf,svg,png}`` with its data (``.npz``) and provenance (``.json``).

    Args:
        fig: the figure.
        fig_id: ``ch<k>-<slug>``; ``k`` must be the chapter's number when ``params`` is given.
        data: dict of arrays as plotted (required, here or through ``result.data``).
        params: the chapter's :class:`~mftransformer.params.Config`.
        result: an experiment :class:`~mftransformer.experiments.Result`; supplies ``data``,
            ``checks``, ``source`` and ``wall_s`` unless given explicitly.

    Returns:
        the provenance record (as written to the JSON file).

    Raises:
        ParameterError: invalid or clashing figure id, or no data.
    """
    if result is not None:
        data = result.data if data is None else data
        checks = result.check if checks is None else checks
        source = result.source if source is None else source
        wall_s = result.wall_s if wall_s is None else wall_s
    _check_id(fig_id, params, source)
    if not data:
        raise ParameterError(
            f"save_figure: figure '{fig_id}' has no data; pass data={{name: array}} (the arrays as "
            "plotted) or result=... so that readers can re-plot it."
        )
    arrays = {str(k): np.asarray(v) for k, v in sorted(data.items())}
    npz = _npz_bytes(arrays)
    record = _provenance(fig_id, params, checks, source, npz, wall_s)
    out = figure_dir()
    out.mkdir(parents=True, exist_ok=True)
    with matplotlib.rc_context(STYLE):
        blobs = {
            "pdf": _render(fig, "pdf", metadata={"CreationDate": None, "ModDate": None, "Creator": None, "Producer": None}),
            "svg": _render(fig, "svg", metadata={"Date": None, "Creator": None}),
            "png": _render(fig, "png", metadata={"Software": None}),
        }
    blobs["npz"] = npz
    blobs["json"] = (json.dumps(record, indent=2, sort_keys=True) + "\n").encode()
    for ext, blob in blobs.items():
        _atomic_write(out / f"{fig_id}.{ext}", blob)
    _SAVED[fig_id] = source or ""
    return record


# ---------------------------------------------------------------- private
def _check_id(fig_id, params, source):
    if not isinstance(fig_id, str) or not FIGURE_ID.match(fig_id):
        raise ParameterError(
            f"save_figure: fig_id = {fig_id!r}; allowed 'ch<k>-<slug>' with lower-case letters, "
            "digits and single hyphens (e.g. 'ch1-depth-rate'); it is the file name and the label."
        )
    if params is not None:
        from .params import CHAPTERS

        number = list(CHAPTERS).index(params.chapter) + 1
        if not fig_id.startswith(f"ch{number}-"):
            raise ParameterError(
                f"save_figure: fig_id = {fig_id!r} in chapter '{params.chapter}'; allowed ids "
                f"starting with 'ch{number}-'."
            )
    previous = _SAVED.get(fig_id)
    if previous is not None and source and previous and previous != source:
        raise ParameterError(
            f"save_figure: fig_id = {fig_id!r} was already saved from {previous}; figure ids must "
            f"be unique (this one comes from {source})."
        )


def _render(fig, fmt, metadata):
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, metadata=metadata)
    return buf.getvalue()


def _npz_bytes(arrays: dict) -> bytes:
    """An ``.npz`` (loadable by ``np.load``) with fixed zip timestamps: same arrays, same bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, arr in arrays.items():
            entry = io.BytesIO()
            np.lib.format.write_array(entry, np.ascontiguousarray(arr), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, entry.getvalue())
    return buf.getvalue()


def _atomic_write(path: Path, blob: bytes):
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(blob)
    os.replace(tmp, path)


def _git(*args):
    try:
        root = Path(__file__).resolve().parents[2]
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
        return out.stdout.strip() if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def _versions() -> dict:
    names = ["mftransformer", "jax", "jaxlib", "diffrax", "equinox", "numpy", "matplotlib"]
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    out["python"] = platform.python_version()
    return out


def _provenance(fig_id, params, checks, source, npz, wall_s):
    import jax

    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no")
    record = {
        "figure_id": fig_id,
        "chapter": getattr(params, "chapter", None),
        "params_set": getattr(params, "params_set", None),
        "params_hash": params.hash() if params is not None else None,
        "params": params.as_dict() if params is not None else None,
        "overrides": getattr(params, "overrides", None),
        "seed": getattr(params, "seed", None),
        "checks": checks.as_dict() if checks is not None else None,
        "source": source,
        "git_commit": commit,
        "git_dirty": bool(status) if status is not None else None,
        "versions": _versions(),
        "x64": bool(jax.config.jax_enable_x64),
        "data_sha256": hashlib.sha256(npz).hexdigest(),
        "files": [f"{fig_id}.{ext}" for ext in ("pdf", "svg", "png", "npz", "json")],
        "run": {
            "wall_s": None if wall_s is None else round(float(wall_s), 3),
            "device": str(jax.devices()[0].platform),
        },
    }
    if isinstance(record["checks"], dict):
        record["checks"] = [record["checks"]]
    return record

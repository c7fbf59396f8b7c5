"""The provenance record of a figure, and the byte-stable data file behind it.

A figure's ``<id>.json`` records: figure id, chapter, parameter set, resolved parameters and
their hash, seed, checks, the function that computed the data and the one that drew it, git
commit and dirty flag, package versions, the lock file's hash, the licence (CC BY 4.0), the x64
flag, the data's hash, and a ``run`` block (wall time, device) that byte comparisons skip.
"""

import hashlib
import io
import platform
import zipfile
from importlib import metadata

import numpy as np

from . import environment
from .files import git

__all__ = ["installed_versions", "npz_bytes", "provenance_record"]


def npz_bytes(arrays: dict) -> bytes:
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


def installed_versions() -> dict:
    """Versions of the package, its numerical libraries and Python (recorded in provenance)."""
    names = ["mftransformer", "jax", "jaxlib", "diffrax", "equinox", "numpy", "matplotlib"]
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    out["python"] = platform.python_version()
    return out


def provenance_record(fig_id, number, params, checks, source, plotted_by, npz, wall_s) -> dict:
    """The provenance of figure ``fig_id`` of chapter ``number`` (see the module docstring)."""
    import jax

    from .params import CHAPTERS

    chapter = getattr(params, "chapter", None)
    if chapter is None and number <= len(CHAPTERS):
        chapter = list(CHAPTERS)[number - 1]
    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    record = {
        "figure_id": fig_id,
        "chapter": chapter,
        "chapter_number": number,
        "notebook": CHAPTERS.get(chapter),
        "params_set": getattr(params, "params_set", None),
        "params_hash": params.hash() if params is not None else None,
        "params": params.as_dict() if params is not None else None,
        "overrides": getattr(params, "overrides", None),
        "seed": getattr(params, "seed", None),
        "checks": checks.as_dict() if checks is not None else None,
        "source": source,
        "plotted_by": plotted_by,
        "git_commit": commit,
        "git_dirty": bool(status) if status is not None else None,
        "versions": installed_versions(),
        "x64": bool(jax.config.jax_enable_x64),
        "lock_sha256": environment.lock_hash(),
        "licence": {"name": environment.LICENCE_FIGURES, "url": environment.LICENCE_FIGURES_URL},
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

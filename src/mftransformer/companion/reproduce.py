"""Reproduce one figure from its provenance file alone.

``python -m mftransformer reproduce book/_static/figures/<id>.json`` (or just ``<id>``) reads the
provenance that :func:`~mftransformer.companion.figures.save_figure` wrote, refuses it when it was
written by another commit or other package versions (saying what differs and how to get them),
re-validates the recorded parameters, recomputes the figure's experiment with the recorded
parameters and seed, draws it with the recorded plot function, writes it into
``<figures>/reproduced/`` beside the original, and compares: the data to 1e-12 and every
PDF/SVG/PNG/NPZ file byte for byte.
"""

import dataclasses
import importlib
import json
import os
from pathlib import Path

import numpy as np

from ..solver.errors import ParameterError
from .figures import EXTENSIONS, FIGURE_ID, figure_dir, installed_versions

__all__ = ["Reproduction", "reproduce", "read_provenance", "DATA_RTOL"]

#: Recomputed data must equal the recorded data to this relative tolerance (float64 round-off;
#: on the same machine and versions they are bit-identical).
DATA_RTOL = 1e-12
_REQUIRED = ("figure_id", "chapter", "params_set", "params_hash", "source", "plotted_by")


@dataclasses.dataclass(frozen=True)
class Reproduction:
    """The outcome: where the new files are, whether the data agree (and by how much), and which
    files are byte-identical to the originals."""

    fig_id: str
    folder: Path
    data_equal: bool
    data_max_rel: float
    identical: dict

    @property
    def ok(self) -> bool:
        return self.data_equal and all(self.identical.values())

    def __str__(self):
        files = ", ".join(
            f"{ext} {'identical' if same else 'DIFFERENT'}" for ext, same in self.identical.items()
        )
        data = (
            "identical"
            if self.data_max_rel == 0
            else f"max relative difference {self.data_max_rel:.1e}"
        )
        verdict = "reproduced" if self.ok else "NOT reproduced"
        return f"{self.fig_id}: {verdict}; data {data}; {files}; new files in {self.folder}"


def read_provenance(spec: str | Path) -> tuple[Path, dict]:
    """The provenance file named by ``spec`` (a path, or a figure id looked up in the figure
    folder) and its record.

    Raises:
        ParameterError: no such file or figure, or a file that is not a provenance record.
    """
    path = Path(spec)
    by_id = not path.suffix and FIGURE_ID.match(str(spec))
    if by_id:
        path = figure_dir() / f"{spec}.json"
    if not path.is_file():
        known = sorted(p.stem for p in figure_dir().glob("*.json") if FIGURE_ID.match(p.stem))
        what = f"no figure '{spec}' in {figure_dir()}" if by_id else f"{spec} is not a file"
        raise ParameterError(
            f"reproduce: {what}; give a provenance file <figures>/<id>.json or a figure id "
            f"(known here: {', '.join(known) or 'none'})."
        )
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ParameterError(
            f"reproduce: {path} is not a provenance file (not JSON: {exc})."
        ) from None
    missing = [k for k in _REQUIRED if not isinstance(record, dict) or k not in record]
    if missing:
        raise ParameterError(
            f"reproduce: {path} is not a provenance file written by save_figure "
            f"(missing {', '.join(missing)})."
        )
    return path, record


def reproduce(spec: str | Path, *, allow_other_commit: bool = False) -> Reproduction:
    """Recompute the figure whose provenance ``spec`` names, and compare it with the original.

    Raises:
        ParameterError: not a provenance file; another commit or other package versions (the
            message says what differs and how to get that version); recorded parameters that
            today's validation refuses.
    """
    from . import params as params_module
    from .files import git

    path, record = read_provenance(spec)
    _check_same_code(record, git("rev-parse", "HEAD"), allow_other_commit)
    try:
        config = params_module.load(
            record["chapter"], record["params_set"], record.get("overrides")
        )
    except ParameterError as exc:
        raise ParameterError(
            f"reproduce: the recorded parameters are refused today: {exc}"
        ) from None
    if config.hash() != record["params_hash"]:
        raise ParameterError(
            f"reproduce: parameter set '{record['params_set']}' now resolves to other values "
            f"(hash {config.hash()[:12]}, recorded {record['params_hash'][:12]}); check out the "
            f"recorded commit {str(record.get('git_commit'))[:12]}."
        )
    experiment, plot = _resolve(record["source"]), _resolve(record["plotted_by"])
    name = record["source"].rsplit(":", 1)[1]
    result = experiment(getattr(config, name), key=config.key(name))
    folder = path.parent / "reproduced"
    folder.mkdir(exist_ok=True)
    from .figures import forget, save_figure

    forget(record["figure_id"])  # this process may legitimately save the same id again
    previous = os.environ.get("MFT_FIGURE_DIR")
    os.environ["MFT_FIGURE_DIR"] = str(folder)
    try:
        save_figure(plot(result), record["figure_id"], result=result, params=config)
    finally:
        if previous is None:
            os.environ.pop("MFT_FIGURE_DIR", None)
        else:
            os.environ["MFT_FIGURE_DIR"] = previous
    return _compare(record["figure_id"], path.parent, folder)


def _check_same_code(record, head, allow_other_commit) -> None:
    recorded = record.get("git_commit")
    if recorded and head and recorded != head and not allow_other_commit:
        raise ParameterError(
            f"reproduce: {record['figure_id']} was made at commit {recorded[:12]}, this checkout "
            f"is at {head[:12]}; run `git checkout {recorded[:12]}` (and reinstall) first."
        )
    wanted = record.get("versions") or {}
    have = installed_versions()
    differ = {
        k: (v, have.get(k)) for k, v in wanted.items() if k != "mftransformer" and have.get(k) != v
    }
    if differ:
        text = ", ".join(f"{k} {v} (installed {h})" for k, (v, h) in sorted(differ.items()))
        pins = " ".join(f"{k}=={v}" for k, (v, _) in sorted(differ.items()) if k != "python")
        raise ParameterError(
            f"reproduce: {record['figure_id']} was made with {text}; install those versions "
            f"(`pip install {pins}`) or use the committed lock file of that commit."
        )


def _resolve(where: str):
    module, _, name = where.partition(":")
    try:
        obj = importlib.import_module(module)
        for part in name.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise ParameterError(f"reproduce: cannot find {where} in this version ({exc}).") from None
    return obj


def _compare(fig_id: str, original: Path, new: Path) -> Reproduction:
    identical = {
        ext: (original / f"{fig_id}.{ext}").read_bytes() == (new / f"{fig_id}.{ext}").read_bytes()
        for ext in EXTENSIONS
        if ext != "json" and (original / f"{fig_id}.{ext}").exists()
    }
    old, now = np.load(original / f"{fig_id}.npz"), np.load(new / f"{fig_id}.npz")
    worst, equal = 0.0, sorted(old.files) == sorted(now.files)
    for name in old.files if equal else []:
        a, b = np.asarray(old[name]), np.asarray(now[name])
        if a.shape != b.shape or a.dtype != b.dtype:
            equal = False
            continue
        if a.dtype.kind in "fc":  # relative to the array's largest entry (zeros stay zeros)
            finite = np.isfinite(a)
            if not np.array_equal(finite, np.isfinite(b)) or not np.array_equal(
                a[~finite], b[~finite]
            ):
                equal = False
            if finite.any():
                scale = max(float(np.max(np.abs(a[finite]))), np.finfo(float).tiny)
                worst = max(worst, float(np.max(np.abs(a[finite] - b[finite]))) / scale)
        elif not np.array_equal(a, b):
            equal = False
    return Reproduction(fig_id, new, equal and worst <= DATA_RTOL, worst, identical)

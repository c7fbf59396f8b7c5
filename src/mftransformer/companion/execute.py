"""One chapter's execution: staged, checked, cached, then moved into place together.

``execute(root, config)`` runs ``notebooks/<stem>.md`` with papermill into a private staging
folder ``book/_build/staging/<stem>.<random>/`` (the executed notebook, and every figure file the
chapter saves, through ``$MFT_FIGURE_DIR``). Only when every cell, hence every check, succeeded
are the figures, then ``<stem>.checks.json`` and the page moved into ``book/_static/figures/``
and ``book/chapters/``; a failed or killed run changes nothing that the build or nbval reads (the
failed notebook is kept in ``book/_build/failed/``). A lock file serialises two runs of the same
chapter. The results cache (:mod:`.cache`) is consulted first and filled after a success.
"""

import dataclasses
import fcntl
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from ..solver.errors import ParameterError
from . import cache, results
from .files import atomic_write
from .params import CHAPTERS

__all__ = [
    "ChapterRun",
    "execute",
    "check_parameters_cell",
    "name_figures",
    "NOTEBOOK_PARAMETERS",
]

#: The only names a notebook's ``parameters`` cell may hold.
NOTEBOOK_PARAMETERS = ("params_set", "overrides")


@dataclasses.dataclass(frozen=True)
class ChapterRun:
    """How a chapter was obtained: its execution's wall time, and whether it came from the cache
    (then ``wall_s`` is the time the cached execution took)."""

    chapter: str
    wall_s: float
    cached: bool
    key: str

    def __str__(self):
        how = f"from the cache (executed in {self.wall_s:.1f} s)" if self.cached else "executed"
        return f"{self.chapter}: {how}" if self.cached else f"{self.chapter}: {self.wall_s:.1f} s"


def execute(root: Path, config, *, force: bool = False) -> ChapterRun:
    """Execute (or restore from the cache) one chapter with its validated ``config``."""
    import jupytext

    stem = CHAPTERS[config.chapter]
    source = root / "notebooks" / f"{stem}.md"
    if not source.is_file():
        raise ParameterError(
            f"pipeline: chapter '{config.chapter}' has no source {source.relative_to(root)}."
        )
    notebook = jupytext.read(source)
    check_parameters_cell(notebook, source.relative_to(root))
    name_figures(notebook, source.relative_to(root))
    key = cache.chapter_key(root, config, source)
    with _ChapterLock(root, stem):
        entry = None if force else cache.lookup(root, key)
        if entry is not None:
            timing = entry.info["timing"]
            _install(root, stem, entry.files)
            _record_timing(root, stem, {**timing, "cached": True})
            return ChapterRun(config.chapter, timing["wall_s"], True, key)
        staging = Path(
            tempfile.mkdtemp(dir=_mkdir(root / "book" / "_build" / "staging"), prefix=f"{stem}.")
        )
        try:
            timing = _papermill(root, notebook, config, staging, force=force)
            files = _staged_files(staging, stem)
            timing["params_set"] = config.params_set
            cache.store(root, key, files, {"chapter": config.chapter, "timing": timing})
            _install(root, stem, files)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        _record_timing(root, stem, {**timing, "cached": False})
        return ChapterRun(config.chapter, timing["wall_s"], False, key)


def check_parameters_cell(notebook, where):
    """Refuse a notebook whose ``parameters`` cell assigns anything but ``params_set`` and
    ``overrides`` (papermill would only log an unknown name)."""
    cells = [c for c in notebook.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise ParameterError(f"pipeline: {where} needs exactly one cell tagged 'parameters'.")
    names = []
    for line in cells[0].source.splitlines():
        line = line.split("#")[0].strip()
        if "=" in line:
            names.append(line.split("=")[0].strip())
    if tuple(sorted(names)) != tuple(sorted(NOTEBOOK_PARAMETERS)):
        raise ParameterError(
            f"pipeline: {where}: the parameters cell assigns {names}; allowed exactly "
            f"{list(NOTEBOOK_PARAMETERS)} (everything else belongs in notebooks/params/*.yaml)."
        )


def name_figures(notebook, where) -> None:
    """Give each figure cell its MyST name from the id its ``save_figure`` call saves, so that a
    page writes each figure id once (in the call); the name labels the figure for ``{ref}``.

    Raises:
        ParameterError: a figure cell that saves no figure or several, or whose name (if one is
            written) differs from the id it saves.
    """
    for number, cell in enumerate(notebook.cells, 1):
        figure = cell.get("metadata", {}).get("mystnb", {}).get("figure")
        if cell.cell_type != "code" or not isinstance(figure, dict):
            continue
        saved = _SAVED_ID.findall(cell.source)
        if len(saved) != 1 or figure.get("name", saved[0]) != saved[0]:
            raise ParameterError(
                f"pipeline: {where}, cell {number}: a figure cell must save exactly one figure "
                f'with mft.save_figure(fig, "<id>", ...) (found {saved}'
                + (f", name {figure['name']!r}" if "name" in figure else "")
                + ")."
            )
        figure["name"] = saved[0]


# ---------------------------------------------------------------- private
_SAVED_ID = re.compile(r"save_figure\(\s*\w+\s*,\s*[\"']([^\"']+)[\"']")


def _papermill(root: Path, notebook, config, staging: Path, *, force: bool) -> dict:
    """Execute into ``staging``; returns the timing record. Raises RuntimeError on failure.

    Unless ``force``, the kernel keeps each experiment's result in the results store
    (:mod:`.results`), so a chapter whose page changed recomputes only what its edit touched."""
    import jupytext
    import papermill

    stem = CHAPTERS[config.chapter]
    figures = _mkdir(staging / "figures")
    tmp_in, tmp_out = staging / f"{stem}.input.ipynb", staging / f"{stem}.ipynb"
    jupytext.write(notebook, tmp_in)
    jax_cache = _mkdir(root / "book" / "_build" / "jax-cache")
    compiled_before = _count_files(jax_cache)
    env_backup = dict(os.environ)
    os.environ.update(_kernel_environment(root, figures, jax_cache, force=force))
    out_dir = root / "book" / "chapters"  # the kernel's working directory, as for the page
    start = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(tmp_in.relative_to(root)),
            str(tmp_out.relative_to(root)),
            parameters={"params_set": config.params_set, "overrides": config.overrides},
            cwd=str(_mkdir(out_dir).relative_to(root)),
            kernel_name="python3",
            progress_bar=False,
            report_mode=False,
            log_output=False,
        )
    except Exception as exc:  # papermill raises PapermillExecutionError with the cell's traceback
        failed = _mkdir(root / "book" / "_build" / "failed")
        if tmp_out.exists():
            os.replace(tmp_out, failed / f"{stem}.ipynb")
        raise RuntimeError(
            f"chapter {stem} failed with params '{config.params_set}': {exc}\n"
            f"(executed notebook kept in book/_build/failed/{stem}.ipynb; nothing else changed)"
        ) from None
    finally:
        os.environ.clear()
        os.environ.update(env_backup)
        tmp_in.unlink(missing_ok=True)
    wall = time.perf_counter() - start
    _hide_default_parameters(tmp_out)
    _write_checks(staging, stem, config)
    return {
        "wall_s": round(wall, 1),
        "cpus": os.cpu_count(),
        "compilations": _count_files(jax_cache) - compiled_before,
        "python": sys.version.split()[0],
    }


def _kernel_environment(root: Path, figures: Path, jax_cache: Path, *, force: bool) -> dict:
    """The variables the kernel runs under: no progress bars, inline figures, figure files into
    the staging folder, JAX's persistent compilation cache in the build folder (never the
    user's home), and the results store unless ``force``."""
    env = {
        "TQDM_DISABLE": "1",
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        "MFT_FIGURE_DIR": str(figures),
        "JAX_COMPILATION_CACHE_DIR": str(jax_cache),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
        results.ENV: "" if force else str(root / "book" / "_build" / "cache" / "results"),
    }
    return env


def _staged_files(staging: Path, stem: str) -> dict[str, Path]:
    files = {f"{stem}.ipynb": staging / f"{stem}.ipynb"}
    files[f"{stem}.checks.json"] = staging / f"{stem}.checks.json"
    for path in sorted((staging / "figures").iterdir()):
        if not path.name.startswith("."):
            files[f"figures/{path.name}"] = path
    return files


def _write_checks(staging: Path, stem: str, config) -> None:
    """``<stem>.checks.json``: every check of the chapter, as recorded in its figures'
    provenance (structured data; nothing is parsed back from printed lines)."""
    import nbformat

    shown = [  # figure ids in page order, so that the checks are listed as the page shows them
        c.metadata.get("mystnb", {}).get("figure", {}).get("name")
        for c in nbformat.read(staging / f"{stem}.ipynb", as_version=4).cells
    ]
    records = [json.loads(p.read_text()) for p in (staging / "figures").glob("*.json")]
    records.sort(
        key=lambda r: (
            shown.index(r["figure_id"]) if r["figure_id"] in shown else 10**6,
            r["figure_id"],
        )
    )
    checks, seen = [], set()
    for record in records:
        for check in record.get("checks") or []:
            marker = (check["name"], check["line"])
            if marker not in seen:
                seen.add(marker)
                checks.append({**check, "figure_id": record["figure_id"]})
    document = {
        "chapter": config.chapter,
        "notebook": stem,
        "params_set": config.params_set,
        "params_hash": config.hash(),
        "checks": checks,
    }
    atomic_write(staging / f"{stem}.checks.json", json.dumps(document, indent=2) + "\n")


def _install(root: Path, stem: str, files: dict[str, Path]) -> None:
    """Move the chapter's files into place: figures first, the page last, so that a page never
    refers to a missing figure; a chapter's figures that this run did not make are removed.
    Files whose bytes did not change are left untouched (Sphinx rebuilds nothing for them)."""
    figures = _mkdir(root / "book" / "_static" / "figures")
    chapters = _mkdir(root / "book" / "chapters")
    new = {name.split("/", 1)[1] for name in files if name.startswith("figures/")}
    prefix = f"ch{int(stem[:2])}-"
    for old in figures.glob(f"{prefix}*"):
        if old.name not in new:
            old.unlink(missing_ok=True)
    order = sorted(files, key=lambda n: (not n.startswith("figures/"), n.endswith("ipynb")))
    for name in order:
        figure = name.startswith("figures/")
        path = figures / name[len("figures/") :] if figure else chapters / name
        blob = files[name].read_bytes()
        if not path.exists() or path.read_bytes() != blob:
            atomic_write(path, blob)


class _ChapterLock:
    """An exclusive lock per chapter (``book/_build/locks/<stem>.lock``): a second run of the
    same chapter waits for the first, with a message."""

    def __init__(self, root: Path, stem: str):
        self.path = _mkdir(root / "book" / "_build" / "locks") / f"{stem}.lock"
        self.stem = stem

    def __enter__(self):
        self.fh = open(self.path, "a+")  # noqa: SIM115 (held until __exit__)
        try:
            fcntl.flock(self.fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(
                f"chapter {self.stem} is being executed by another run; waiting for it.",
                file=sys.stderr,
                flush=True,
            )
            fcntl.flock(self.fh, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fh, fcntl.LOCK_UN)
        self.fh.close()


def _record_timing(root: Path, stem: str, record: dict) -> None:
    path = _mkdir(root / "book" / "_generated") / "timings.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data[stem] = record
    atomic_write(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def _count_files(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*") if p.is_file())


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _hide_default_parameters(path: Path) -> None:
    """Hide the page's default ``parameters`` cell: the page shows papermill's injected cell,
    which holds the values this execution actually used."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        tags = cell.metadata.setdefault("tags", [])
        if "parameters" in tags and "remove-cell" not in tags:
            tags.append("remove-cell")
    nbformat.write(nb, path)

"""The build pipeline: MyST source -> jupytext -> papermill (parameter set) -> book/chapters/ -> HTML.

``run`` executes chapters, ``book`` runs them all then builds the site with
``jupyter-book build -W -n --keep-going`` (a warning is a failure), ``figures`` runs the chapters
only (figures are written by the chapters themselves), ``bench`` runs ``benchmarks/*.py``.

Parameters are validated before anything runs; an executed notebook is written to a temporary name
and moved into ``book/chapters/`` only when every cell (every check) succeeded, so a failed run
never leaves a half-written page behind (the failed notebook is kept in ``book/_build/failed/``).
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from ..solver.errors import ParameterError, suggest
from .files import atomic_write
from .params import CHAPTERS, load

__all__ = ["repo_root", "resolve_chapters", "run", "build", "book", "bench"]

#: The only names a notebook's ``parameters`` cell may hold.
NOTEBOOK_PARAMETERS = ("params_set", "overrides")


def repo_root() -> Path:
    """The checkout: the first folder above the working directory holding ``notebooks/params``."""
    for base in [Path.cwd(), *Path.cwd().parents]:
        if (base / "notebooks" / "params").is_dir() and (base / "book").is_dir():
            return base
    raise ParameterError(
        "pipeline: no repository found above the working directory (need notebooks/params and "
        "book/); run from the repository."
    )


def resolve_chapters(spec: str | None) -> list[str]:
    """Chapter names from ``"01"``, ``"1"``, ``"forward"``, ``"01-forward"`` or None (all)."""
    if spec in (None, "", "all"):
        return list(CHAPTERS)
    out = []
    for item in str(spec).split(","):
        item = item.strip()
        for name, stem in CHAPTERS.items():
            if item in (name, stem) or (item.isdigit() and int(item) == int(stem[:2])):
                out.append(name)
                break
        else:
            allowed = [s[:2] for s in CHAPTERS.values()] + list(CHAPTERS)
            raise ParameterError(
                f"pipeline: CH = {item!r}; allowed one of {', '.join(allowed)}.{suggest(item, allowed)}"
            )
    return out


def run(
    chapters: list[str],
    params_set: str = "ci",
    overrides: dict | None = None,
    *,
    progress: bool = True,
) -> dict:
    """Execute chapters with a parameter set; returns ``{chapter: wall seconds}``.

    Raises:
        ParameterError: bad parameters (before any chapter runs).
        RuntimeError: a chapter failed (its notebook is kept in ``book/_build/failed/``).
    """
    root = repo_root()
    for name in overrides or {}:
        if name not in CHAPTERS:
            raise ParameterError(
                f"pipeline: overrides for chapter {name!r}; allowed {list(CHAPTERS)}."
                f"{suggest(name, CHAPTERS)}"
            )
    for chapter in chapters:  # validate everything first: nothing runs on a typo
        load(chapter, params_set, (overrides or {}).get(chapter))
    from tqdm.auto import tqdm

    timings = {}
    bar = tqdm(
        chapters, desc="chapters", disable=not progress or bool(os.environ.get("TQDM_DISABLE"))
    )
    for chapter in bar:
        bar.set_postfix_str(chapter)
        timings[chapter] = _run_one(root, chapter, params_set, (overrides or {}).get(chapter) or {})
        _record_timing(root, chapter, params_set, timings[chapter])
    return timings


def build(strict: bool = True) -> Path:
    """Write the generated pages and build the HTML site; returns the path of ``index.html``."""
    root = repo_root()
    book_dir = root / "book"
    _write_generated_pages(book_dir)
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb) if jb.exists() else "jupyter-book", "build", "book"]
    if strict:
        cmd += ["-W", "-n", "--keep-going"]
    env = dict(os.environ, PYDEVD_DISABLE_FILE_VALIDATION="1")
    proc = subprocess.run(cmd, cwd=root, env=env)
    if proc.returncode != 0:
        raise RuntimeError(
            f"jupyter-book build failed (exit {proc.returncode}); see the log above."
        )
    return book_dir / "_build" / "html" / "index.html"


def book(params_set: str = "ci", overrides: dict | None = None) -> Path:
    """Execute every chapter with ``params_set``, then build the site."""
    run(list(CHAPTERS), params_set, overrides)
    return build()


def bench(names: list[str] | None = None) -> None:
    """Run ``benchmarks/<name>.py`` (all of them by default); each prints a table and writes JSON."""
    root = repo_root()
    scripts = sorted((root / "benchmarks").glob("*.py"))
    if names:
        scripts = [s for s in scripts if s.stem in names]
    for script in scripts:
        print(f"== {script.relative_to(root)}", flush=True)
        subprocess.run([sys.executable, str(script.relative_to(root))], cwd=root, check=True)


# ---------------------------------------------------------------- private
def _run_one(root: Path, chapter: str, params_set: str, overrides: dict) -> float:
    import jupytext
    import papermill

    stem = CHAPTERS[chapter]
    source = root / "notebooks" / f"{stem}.md"
    if not source.is_file():
        raise ParameterError(
            f"pipeline: chapter '{chapter}' has no source {source.relative_to(root)}."
        )
    notebook = jupytext.read(source)
    _check_parameters_cell(notebook, source.relative_to(root))
    out_dir = root / "book" / "chapters"
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp_in = out_dir / f".{stem}.input.ipynb"
    tmp_out = out_dir / f".{stem}.output.ipynb"
    jupytext.write(notebook, tmp_in)
    env_backup = dict(os.environ)
    os.environ.update(
        TQDM_DISABLE="1",
        MPLBACKEND="module://matplotlib_inline.backend_inline",
        PYDEVD_DISABLE_FILE_VALIDATION="1",
    )
    start = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(tmp_in.relative_to(root)),
            str(tmp_out.relative_to(root)),
            parameters={"params_set": params_set, "overrides": overrides},
            cwd=str(out_dir.relative_to(root)),
            kernel_name="python3",
            progress_bar=False,
            report_mode=False,
            log_output=False,
        )
    except Exception as exc:  # papermill raises PapermillExecutionError with the cell's traceback
        failed = root / "book" / "_build" / "failed"
        failed.mkdir(parents=True, exist_ok=True)
        if tmp_out.exists():
            os.replace(tmp_out, failed / f"{stem}.ipynb")
        raise RuntimeError(
            f"chapter {stem} failed with params '{params_set}': {exc}\n"
            f"(executed notebook kept in book/_build/failed/{stem}.ipynb)"
        ) from None
    finally:
        os.environ.clear()
        os.environ.update(env_backup)
        tmp_in.unlink(missing_ok=True)
    wall = time.perf_counter() - start
    _hide_default_parameters(tmp_out)
    os.replace(tmp_out, out_dir / f"{stem}.ipynb")
    return wall


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


def _check_parameters_cell(notebook, where):
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


def _record_timing(root: Path, chapter: str, params_set: str, wall: float) -> None:
    path = root / "book" / "_generated" / "timings.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(path.read_text()) if path.exists() else {}
    data[CHAPTERS[chapter]] = {
        "params_set": params_set,
        "wall_s": round(wall, 1),
        "cpus": os.cpu_count(),
    }
    atomic_write(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def _write_generated_pages(book_dir: Path) -> None:
    try:
        from . import gallery
    except ImportError:
        gallery = None
    if gallery is not None and hasattr(gallery, "write_pages"):
        gallery.write_pages(book_dir)
        return
    generated = book_dir / "_generated"
    generated.mkdir(parents=True, exist_ok=True)
    for name, title in (("figures", "Figures"), ("status", "Status of every check")):
        page = generated / f"{name}.md"
        if not page.exists():
            page.write_text(f"# {title}\n\nGenerated by `make book`.\n")

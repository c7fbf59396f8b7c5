"""The build pipeline: MyST source -> jupytext -> papermill -> book/chapters/ -> HTML.

``run`` executes chapters (or restores them from the results cache, :mod:`.cache`), ``book`` runs
them all then builds the site with ``jupyter-book build -W -n --keep-going`` (a warning is a
failure), ``figures`` runs the chapters only (figures are written by the chapters themselves),
``bench`` runs ``benchmarks/*.py``.

Parameters are validated before anything runs; one chapter's execution is staged and moved into
place only when every cell (every check) succeeded (:mod:`.execute`), so a failed run never
leaves a half-written page or figure behind.
"""

import os
import subprocess
import sys
from pathlib import Path

from ..solver.errors import ParameterError, suggest
from .execute import ChapterRun, check_parameters_cell, execute
from .params import CHAPTERS, load

__all__ = [
    "repo_root",
    "resolve_chapters",
    "run",
    "build",
    "book",
    "bench",
    "budget",
    "BUDGET_S",
    "execute",
    "ChapterRun",
    "check_parameters_cell",
]


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
                f"pipeline: CH = {item!r}; allowed one of {', '.join(allowed)}."
                f"{suggest(item, allowed)}"
            )
    return out


def run(
    chapters: list[str],
    params_set: str = "ci",
    overrides: dict | None = None,
    *,
    progress: bool = True,
    force: bool = False,
) -> dict[str, "ChapterRun"]:
    """Execute chapters with a parameter set, or take them from the results cache.

    A chapter whose cache key (:mod:`mftransformer.companion.cache`: its source, its resolved
    parameters, the package's sources, the numerical libraries' versions, the precision) has an
    entry is restored from it without running; ``force=True`` re-executes every chapter.

    Returns:
        ``{chapter: ChapterRun}`` (wall seconds of the execution, whether it came from the cache).

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
    skipped = sorted(set(overrides or {}) - set(chapters))
    if skipped:
        raise ParameterError(
            f"pipeline: overrides for {skipped}, which are not being run; allowed overrides for "
            f"the chapters run ({list(chapters)}). Add the chapter to the run or drop its --set."
        )
    configs = {  # validate everything first: nothing runs on a typo
        chapter: load(chapter, params_set, (overrides or {}).get(chapter)) for chapter in chapters
    }
    from tqdm.auto import tqdm

    runs = {}
    bar = tqdm(
        chapters, desc="chapters", disable=not progress or bool(os.environ.get("TQDM_DISABLE"))
    )
    for chapter in bar:
        bar.set_postfix_str(chapter)
        runs[chapter] = execute(root, configs[chapter], force=force)
    return runs


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


def book(params_set: str = "ci", overrides: dict | None = None, *, force: bool = False) -> Path:
    """Execute (or take from the cache) every chapter with ``params_set``, then build the site."""
    run(list(CHAPTERS), params_set, overrides, force=force)
    return build()


def bench(names: list[str] | None = None) -> None:
    """Run ``benchmarks/<name>.py`` (all of them by default); each prints a table and writes JSON.

    Raises:
        ParameterError: a name that is not a benchmark (the message lists them).
    """
    root = repo_root()
    scripts = sorted(s for s in (root / "benchmarks").glob("*.py") if not s.name.startswith("_"))
    known = [s.stem for s in scripts]
    for name in names or []:
        if name not in known:
            raise ParameterError(
                f"bench: name = {name!r}; allowed one of {known}.{suggest(name, known)}"
            )
    if names:
        scripts = [s for s in scripts if s.stem in names]
    for script in scripts:
        print(f"== {script.relative_to(root)}", flush=True)
        subprocess.run([sys.executable, str(script.relative_to(root))], cwd=root, check=True)


#: Above this many estimated seconds on a CPU, ``run``/``figures``/``book`` ask for ``--yes``.
BUDGET_S = 3600.0


def budget(chapters, params_set="ci", overrides=None, *, yes=False, limit_s=None) -> float:
    """Print the cost model's estimate of ``chapters`` (:mod:`.estimate`) and refuse, on a CPU, a
    run estimated above ``limit_s`` (default :data:`BUDGET_S`) unless ``yes``.

    Returns:
        The estimated seconds on this machine (``nan`` when ``machine.json`` is missing).

    Raises:
        ParameterError: over the budget without ``yes`` (the message says how to go on).
    """
    import jax

    from .estimate import chapter_seconds, gpu_machine

    limit_s = BUDGET_S if limit_s is None else limit_s
    try:
        per_chapter = chapter_seconds(chapters, params_set, overrides)
    except RuntimeError as exc:  # no benchmark results: nothing to estimate from
        print(f"note: {exc}", file=sys.stderr)
        return float("nan")
    total = sum(per_chapter.values())
    on_cpu = jax.default_backend() == "cpu"
    shown = ", ".join(f"{c} {_hours(s)}" for c, s in per_chapter.items())
    print(f"estimate ({params_set}, this CPU): {shown}; total {_hours(total)}", flush=True)
    if on_cpu and total > limit_s and not yes:
        raise ParameterError(
            f"pipeline: params {params_set!r} are estimated at {_hours(total)} on this CPU "
            f"(more than {_hours(limit_s)}; {gpu_machine().name} would take less: see "
            f"`python -m mftransformer estimate --chapter NN --params {params_set}`). "
            "Pass --yes (make YES=1) to start anyway, or run the experiments as a sweep."
        )
    return total


# ---------------------------------------------------------------- private
def _hours(seconds: float | int) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.2g} s"


def _write_generated_pages(book_dir: Path) -> None:
    from .pages import write_pages

    write_pages(book_dir)

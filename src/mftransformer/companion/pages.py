"""The generated pages of the book, written before each HTML build: Figures, Status, the
run-time table of Reproduce, and Performance.

Nothing in them is typed by hand: they are made from what the executed chapters left behind
(:mod:`.gallery` for the figures, :mod:`.status` for the checks and run times) and from the
benchmark results (:mod:`.performance`). A page is rewritten only when its text changes, so an
unchanged book rebuilds nothing. A chapter that shows a figure whose files are missing stops the
build, naming the figure.
"""

from pathlib import Path

from . import gallery, performance, status

__all__ = ["write_pages", "MissingFigureFiles"]


class MissingFigureFiles(RuntimeError):
    """An executed chapter shows a figure whose files are not (all) in ``_static/figures``."""


def write_pages(book_dir: Path) -> dict:
    """Write ``_generated/{figures,status,timings,performance}.md`` under ``book_dir``.

    Returns:
        ``{"figures": [FigureEntry], "checks": [CheckRow], "pages": [Path]}``.

    Raises:
        MissingFigureFiles: a chapter's page refers to a figure whose files are missing.
    """
    book_dir = Path(book_dir)
    out = book_dir / "_generated"
    out.mkdir(parents=True, exist_ok=True)
    config = gallery.read_yaml(book_dir / "_config.yml")
    cff = gallery.read_yaml(book_dir.parent / "CITATION.cff")
    notebooks = gallery.read_notebooks(book_dir)
    figures = gallery.read_figures(book_dir, notebooks)
    missing = gallery.missing_files(figures, notebooks, book_dir)
    if missing:
        raise MissingFigureFiles(
            "figures shown by a chapter have no files: " + "; ".join(missing) + ". Re-run the "
            "chapter (`make book FORCE=1`)."
        )
    checks = status.read_checks(book_dir)
    precision = {
        e.stem: ("float64" if e.record.get("x64") else "float32")
        for e in figures
        if e.record and e.stem
    }
    results = book_dir.parent / "benchmarks" / "results"
    pages = {
        "figures.md": gallery.figures_page(figures, notebooks, config, cff, book_dir),
        "status.md": status.status_page(checks, notebooks, precision),
        "timings.md": status.timings_page(out / "timings.json", notebooks),
        "performance.md": performance.performance_page(results, out / "performance"),
    }
    written = []
    for name, text in pages.items():
        path = out / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        written.append(path)
    return {"figures": figures, "checks": checks, "pages": written}

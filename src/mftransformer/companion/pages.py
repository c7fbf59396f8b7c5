"""The generated pages of the book, written before each HTML build: Figures, Status, the
run-time table of Reproduce, Performance, and the results-at-a-glance table of the landing page.

Nothing in them is typed by hand: they are made from what the executed chapters left behind
(:mod:`.gallery` for the figures, :mod:`.status` for the checks and run times) and from the
benchmark results (:mod:`.performance`). A page is rewritten only when its text changes, so an
unchanged book rebuilds nothing. A chapter that shows a figure whose files are missing stops the
build, naming the figure.
"""

import html
from pathlib import Path

from . import gallery, performance, status

__all__ = ["write_pages", "results_table", "HEADLINES", "MissingFigureFiles"]

#: The headline check of each chapter: the one claim that tests its result most directly.
HEADLINES = {
    "01-forward": "depth_slope_euler",
    "02-adjoint": "adjoint_vs_autodiff",
    "03-gradient-flow": "energy_identity",
    "04-ntk": "lse_ntk_agree",
    "05-convergence": "rate",
}

#: What each chapter shows, in a few words (the table's first column).
_RESULTS = {
    "01-forward": "Forward well-posedness: finite depth converges to the flow",
    "02-adjoint": "The adjoint gradient formula",
    "03-gradient-flow": "Gradient flow: energy identity, stability",
    "04-ntk": "NTK injectivity ⇔ LSE independence",
    "05-convergence": "Global convergence from a small loss",
}


class MissingFigureFiles(RuntimeError):
    """An executed chapter shows a figure whose files are not (all) in ``_static/figures``."""


def write_pages(book_dir: Path) -> dict:
    """Write ``_generated/{results,figures,status,timings,performance}.md`` under ``book_dir``.

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
        "results.md": results_table(checks, figures),
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


def results_table(checks, figures) -> str:
    """The landing page's table (MyST, included by ``intro.md``): per result, its headline check
    (:data:`HEADLINES`), the measured value, PASS/FAIL and a thumbnail of the check's figure
    linking to the figure in its chapter. Paths are relative to the landing page."""
    numbers = gallery.figure_numbers(figures)
    alts = {e.fig_id: e.alt or gallery.first_sentence(e.caption) for e in figures}
    lines = [
        "| result | headline check | measured (expected) | status | figure |",
        "|---|---|---|---|---|",
    ]
    for k, stem in enumerate(HEADLINES, 1):
        row = next((c for c in checks if c.chapter == stem and c.name == HEADLINES[stem]), None)
        title = f"{{doc}}`Result {k} <chapters/{stem}>`: {_RESULTS[stem]}"
        if row is None:
            lines.append(f"| {title} | `{HEADLINES[stem]}` | not run | | |")
            continue
        figure = ""
        if row.figure_id:
            alt = html.escape(alts.get(row.figure_id) or row.figure_id, quote=True)
            number = numbers.get(row.figure_id)
            figure = (
                f'<a href="chapters/{stem}.html#{row.figure_id}">'
                f'<img src="_static/figures/{row.figure_id}.png" alt="{alt}" '
                f'class="mft-thumb" width="160"></a>'
                + (f" {{ref}}`Fig. {number} <{row.figure_id}>`" if number else "")
            )
        status = "**PASS**" if row.passed else "**FAIL**"
        doc = row.doc.replace("|", "\\|")
        lines.append(
            f"| {title} | `{row.name}`: {doc} | {row.shown} ({row.expected}) | {status} "
            f"| {figure} |"
        )
    return "\n".join(lines) + "\n"

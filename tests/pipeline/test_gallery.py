"""``pages.write_pages``: the Figures, Status and run-time pages, generated from a small book
(an executed chapter, its checks, one figure's files, the timings) in a temporary folder."""

import json
import shutil
from pathlib import Path

import pytest
import yaml

from mftransformer.companion import gallery, pages
from mftransformer.companion.params import CHAPTERS
from mftransformer.experiments.checks import Check, Checks

ROOT = Path(__file__).resolve().parents[2]
COMMIT = "0123456789abcdef0123456789abcdef01234567"
CHECKS = Checks(
    (
        Check.within("depth_slope_euler", -1.013, -1.0, 0.1),
        Check.between("fd_order", 101.0, 50, 200),
        Check.within("width_slope", -0.31, -0.5, 0.1),  # a failing check
    )
)
# A bound is printed without the noise (Check.below); written out here, as it prints.
BOUND = {
    "name": "adjoint_vs_autodiff",
    "measured": 3.2e-15,
    "expected": "< 1e-12",
    "passed": True,
    "line": "adjoint_vs_autodiff < 1e-12: PASS",
}
LINES = "\n".join([str(CHECKS.items[0]), BOUND["line"], *map(str, CHECKS.items[1:])]) + "\n"
NAMES = ["depth_slope_euler", "adjoint_vs_autodiff", "fd_order", "width_slope"]
CHECK_RECORDS = [CHECKS.as_dict()[0], BOUND, *CHECKS.as_dict()[1:]]


def _cell(kind, source, **extra):
    return {"cell_type": kind, "metadata": extra.pop("metadata", {}), "source": source, **extra}


def _notebook():
    stdout = {"output_type": "stream", "name": "stdout", "text": LINES}
    figure = {"mystnb": {"figure": {"name": "ch1-depth-rate", "caption": "Error against depth."}}}
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"papermill": {"parameters": {"params_set": "ci", "overrides": {}}}},
        "cells": [
            _cell("markdown", "# Push tokens through depth\n\nText."),
            _cell(
                "code",
                "# NBVAL_CHECK_OUTPUT\nprint(result.check)\nresult.check.require()",
                outputs=[stdout],
                execution_count=1,
            ),
            _cell(
                "code",
                "fig = chapter.plot_rate(result)",
                metadata=figure,
                outputs=[],
                execution_count=2,
            ),
        ],
    }


def _record():
    return {
        "figure_id": "ch1-depth-rate",
        "chapter": "forward",
        "chapter_number": 1,
        "notebook": "01-forward",
        "params_set": "ci",
        "params_hash": "ab" * 32,
        "overrides": {},
        "seed": 0,
        "checks": [*CHECKS.as_dict(), BOUND],
        "source": "mftransformer.experiments.forward:depth",
        "plotted_by": "mftransformer.experiments.forward:plot_rate",
        "git_commit": COMMIT,
        "git_dirty": False,
        "versions": {"jax": "0.10.2"},
        "x64": True,
        "data_sha256": "cd" * 32,
        "files": [f"ch1-depth-rate.{e}" for e in ("pdf", "svg", "png", "npz", "json")],
        "run": {"wall_s": 12.3, "device": "cpu"},
    }


@pytest.fixture()
def book(tmp_path) -> Path:
    book = tmp_path / "book"
    (book / "chapters").mkdir(parents=True)
    (book / "_static" / "figures").mkdir(parents=True)
    (book / "_generated").mkdir()
    shutil.copy(ROOT / "CITATION.cff", tmp_path / "CITATION.cff")
    (book / "_config.yml").write_text(
        "repository:\n  url: https://github.com/example/companion\n  branch: launch\n"
    )
    (book / "chapters" / "01-forward.ipynb").write_text(json.dumps(_notebook()))
    checks = [{**c, "figure_id": "ch1-depth-rate"} for c in CHECK_RECORDS]
    (book / "chapters" / "01-forward.checks.json").write_text(
        json.dumps(
            {"chapter": "forward", "notebook": "01-forward", "params_set": "ci", "checks": checks}
        )
    )
    figures = book / "_static" / "figures"
    for ext in ("pdf", "svg", "png", "npz"):  # the JSON is the provenance below
        (figures / f"ch1-depth-rate.{ext}").write_bytes(b"x")
    (figures / "ch1-depth-rate.json").write_text(json.dumps(_record()))
    (book / "_generated" / "timings.json").write_text(
        json.dumps(
            {
                "01-forward": {"params_set": "ci", "wall_s": 41.5, "cpus": 2},
                "02-adjoint": {
                    "params_set": "ci",
                    "wall_s": 20.0,
                    "cpus": 2,
                    "compilations": 7,
                    "cached": True,
                },
            }
        )
    )
    return book


def test_checks_are_read_from_the_checks_file_with_their_claims(book):
    summary = pages.write_pages(book)
    rows = {r.name: r for r in summary["checks"]}
    assert list(rows) == NAMES
    slope = rows["depth_slope_euler"]
    assert (slope.shown, slope.expected, slope.status, slope.params_set) == (
        "-1.01",
        "-1.00 ± 0.1",
        "PASS",
        "ci",
    )
    assert "Euler" in slope.doc and slope.section and not slope.sanity  # from the claims table
    # A bound is printed without the noise; the value is the recorded measurement.
    assert rows["adjoint_vs_autodiff"].shown == "3.2e-15"
    assert rows["adjoint_vs_autodiff"].expected.startswith("<")
    assert rows["fd_order"].expected == "in [50, 200]"
    assert rows["width_slope"].status == "FAIL"


def test_status_page(book):
    pages.write_pages(book)
    page = (book / "_generated" / "status.md").read_text()
    assert page.startswith("# Status of every check\n")
    assert "**4 checks in 1 chapters (4 tests of the results, 0 sanity checks): 1 FAIL.**" in page
    row = next(line for line in page.splitlines() if line.startswith("| `depth_slope_euler`"))
    assert "| -1.01 | -1.00 ± 0.1 | test of the result | PASS |" in row
    assert "<ch1-depth-rate>`)" in row  # a link to the figure of its section
    assert "| **FAIL** |" in page
    assert "## 1. Push tokens through depth" in page
    assert "parameter set `ci`, float64" in page
    assert "Not executed in this build: `02-adjoint`" in page


def test_a_shown_figure_without_files_stops_the_build(book):
    for ext in ("png", "npz"):
        (book / "_static" / "figures" / f"ch1-depth-rate.{ext}").unlink()
    with pytest.raises(pages.MissingFigureFiles, match=r"ch1-depth-rate .*missing \.png, \.npz"):
        pages.write_pages(book)


def test_figures_page(book):
    pages.write_pages(book)
    page = (book / "_generated" / "figures.md").read_text()
    assert "(files-ch1-depth-rate)=\n### Fig. 1.1 · ch1-depth-rate" in page  # the panel
    assert "![Error against depth.](../_static/figures/ch1-depth-rate.png)" in page
    assert "**Caption.** Error against depth." in page
    assert "{ref}`1. Push tokens through depth <ch1-depth-rate>`" in page
    for ext in ("pdf", "svg", "png", "npz", "json"):
        assert f'href="../_static/figures/ch1-depth-rate.{ext}"' in page
    code = (
        f"https://github.com/example/companion/blob/{COMMIT}/src/mftransformer/experiments/"
        "forward.py"
    )
    assert f"[`mftransformer.experiments.forward:depth`]({code}" in page
    assert f"(https://github.com/example/companion/tree/{COMMIT})" in page
    assert "| run time | 12.3 s on cpu |" in page
    assert "`ci` (hash `abababababab`)" in page
    assert "python -m mftransformer reproduce book/_static/figures/ch1-depth-rate.json" in page


def test_figures_page_opens_with_a_thumbnail_grid(book):
    pages.write_pages(book)
    page = (book / "_generated" / "figures.md").read_text()
    grid = page.split("::::{grid}", 1)[1].split("\n::::\n", 1)[0]
    assert page.index("::::{grid}") < page.index("(files-ch1-depth-rate)=")
    assert ":::{grid-item-card} Fig. 1.1 · ch1-depth-rate" in grid
    assert ":img-top: ../_static/figures/ch1-depth-rate.png" in grid
    assert ":link: files-ch1-depth-rate" in grid and ":link-type: ref" in grid
    assert "Error against depth." in grid  # the caption's first sentence


def test_caption_helpers():
    caption = "Slopes $-1.0$ and $L^{-1}$. More. {ref}`Files, data and citation <files-ch1-a>`."
    assert gallery.public_caption(caption) == "Slopes $-1.0$ and $L^{-1}$. More."
    assert gallery.first_sentence(caption) == "Slopes $-1.0$ and $L^{-1}$."
    assert gallery.panel_label("ch1-a") == "files-ch1-a"


def test_results_table_on_the_landing_page(book):
    pages.write_pages(book)
    table = (book / "_generated" / "results.md").read_text()
    lines = table.splitlines()
    assert lines[0].startswith("| result | headline check | measured (expected) | status |")
    row = next(line for line in lines if "Result 1" in line)
    assert "`depth_slope_euler`" in row and "| -1.01 (-1.00 ± 0.1) |" in row and "**PASS**" in row
    assert '<a href="chapters/01-forward.html#ch1-depth-rate">' in row
    assert 'src="_static/figures/ch1-depth-rate.png"' in row
    assert "{ref}`Fig. 1.1 <ch1-depth-rate>`" in row
    assert sum("not run" in line for line in lines) == 4  # the other chapters did not run
    assert set(pages.HEADLINES) == set(CHAPTERS.values())


def test_cite_this_figure(book):
    pages.write_pages(book)
    page = (book / "_generated" / "figures.md").read_text()
    entry = page.split("```bibtex\n", 1)[1].split("\n```", 1)[0]
    assert entry.startswith("@misc{mftransformer:ch1-depth-rate,")
    assert entry.count("{") == entry.count("}")
    author = yaml.safe_load((ROOT / "CITATION.cff").read_text())["authors"][0]["name"]
    assert f"author  = {{{{{author}}}}}" in entry  # an entity: braced, never split into names
    # the release asset of this version, never the site that every deploy overwrites
    assert (
        "url     = {https://github.com/example/companion/releases/download/v0.1.0/"
        "ch1-depth-rate.pdf}"
    ) in entry
    assert "version = {0.1.0}" in entry
    assert "commit 0123456789ab" in entry and "parameter set ci (hash abababababab)" in entry
    assert "Training Infinitely Deep and Wide Transformers" in entry and "2605.17660" in entry


def test_timings_table(book):
    pages.write_pages(book)
    page = (book / "_generated" / "timings.md").read_text()
    assert "on 2 CPU cores" in page
    assert "| {doc}`/chapters/01-forward` | `ci` | 41.5 |  | executed |" in page
    assert "| `02-adjoint` | `ci` | 20.0 | 7 | from the results cache |" in page  # no page
    assert "| total | | 61.5 | | |" in page


def test_empty_book_still_builds(tmp_path):
    book = tmp_path / "book"
    book.mkdir()
    summary = pages.write_pages(book)
    assert summary["figures"] == [] and summary["checks"] == []
    assert "run `make book`" in (book / "_generated" / "figures.md").read_text()
    assert "run `make book`" in (book / "_generated" / "status.md").read_text()
    assert "No run has been recorded yet" in (book / "_generated" / "timings.md").read_text()


def test_same_inputs_same_pages(book):
    pages.write_pages(book)
    first = {p.name: p.read_bytes() for p in (book / "_generated").glob("*.md")}
    pages.write_pages(book)
    assert first == {p.name: p.read_bytes() for p in (book / "_generated").glob("*.md")}

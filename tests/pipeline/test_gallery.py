"""``gallery.write_pages``: the Figures, Status and run-time pages, generated from a small book
(an executed chapter, one figure's files, the timings) in a temporary folder."""

import json
import shutil
from pathlib import Path

import pytest

from mftransformer import gallery
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


def _cell(kind, source, **extra):
    return {"cell_type": kind, "metadata": extra.pop("metadata", {}), "source": source, **extra}


def _notebook():
    stdout = {"output_type": "stream", "name": "stdout", "text": LINES}
    figure = {"mystnb": {"figure": {"name": "ch1-depth-rate", "caption": "Error against depth."}}}
    missing = {"mystnb": {"figure": {"name": "ch1-unsaved", "caption": "Never saved."}}}
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
            _cell(
                "code",
                "fig = chapter.plot_other(result)",
                metadata=missing,
                outputs=[],
                execution_count=3,
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
    figures = book / "_static" / "figures"
    for ext in ("pdf", "svg", "png", "npz"):
        (figures / f"ch1-depth-rate.{ext}").write_bytes(b"x")
    (figures / "ch1-depth-rate.json").write_text(json.dumps(_record()))
    (book / "_generated" / "timings.json").write_text(
        json.dumps(
            {
                "01-forward": {"params_set": "ci", "wall_s": 41.5, "cpus": 2},
                "02-adjoint": {"params_set": "ci", "wall_s": 20.0, "cpus": 2},
            }
        )
    )
    return book


def test_checks_are_read_from_the_check_cells(book):
    summary = gallery.write_pages(book)
    rows = {r.name: r for r in summary["checks"]}
    assert list(rows) == NAMES
    slope = rows["depth_slope_euler"]
    assert (slope.measured, slope.expected, slope.tolerance, slope.status, slope.params_set) == (
        "-1.01",
        "-1.00",
        "± 0.1",
        "PASS",
        "ci",
    )
    # A bound is printed without the noise; the value comes from the figure's provenance.
    assert rows["adjoint_vs_autodiff"].measured == "3.2e-15"
    assert rows["adjoint_vs_autodiff"].expected.startswith("<")
    assert rows["fd_order"].expected == "in [50, 200]"
    assert rows["width_slope"].status == "FAIL"


def test_status_page(book):
    gallery.write_pages(book)
    page = (book / "_generated" / "status.md").read_text()
    assert page.startswith("# Status of every check\n")
    assert "**4 checks in 1 chapters: 1 FAIL.**" in page
    assert "| `depth_slope_euler` | -1.01 | -1.00 | ± 0.1 | PASS | `ci` |" in page
    assert "| **FAIL** |" in page
    assert "## 1. Push tokens through depth" in page
    assert "Not executed in this build: `02-adjoint`" in page


def test_figures_page(book):
    gallery.write_pages(book)
    page = (book / "_generated" / "figures.md").read_text()
    assert "### ch1-depth-rate" in page
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
    # A figure that a chapter shows but never saved is reported, not silently dropped.
    assert "### ch1-unsaved" in page and "did not call `save_figure`" in page


def test_cite_this_figure(book):
    gallery.write_pages(book)
    page = (book / "_generated" / "figures.md").read_text()
    entry = page.split("```bibtex\n", 1)[1].split("\n```", 1)[0]
    assert entry.startswith("@misc{mftransformer:ch1-depth-rate,")
    assert entry.count("{") == entry.count("}")
    assert "author  = {{The mftransformer companion authors}}" in entry
    assert (
        "url     = {https://mftransformer.github.io/mftransformer-companion/_static/figures/"
        "ch1-depth-rate.pdf}"
    ) in entry
    assert "version = {0.1.0}" in entry
    assert "commit 0123456789ab" in entry and "parameter set ci (hash abababababab)" in entry
    assert "Training Infinitely Deep and Wide Transformers" in entry and "2605.17660" in entry


def test_timings_table(book):
    gallery.write_pages(book)
    page = (book / "_generated" / "timings.md").read_text()
    assert "on 2 CPU cores" in page
    assert "| {doc}`/chapters/01-forward` | `ci` | 41.5 |" in page
    assert "| `02-adjoint` | `ci` | 20.0 |" in page  # no executed page to link to
    assert "| total | | 61.5 |" in page


def test_empty_book_still_builds(tmp_path):
    book = tmp_path / "book"
    book.mkdir()
    summary = gallery.write_pages(book)
    assert summary["figures"] == [] and summary["checks"] == []
    assert "run `make book`" in (book / "_generated" / "figures.md").read_text()
    assert "run `make book`" in (book / "_generated" / "status.md").read_text()
    assert "No run has been recorded yet" in (book / "_generated" / "timings.md").read_text()


def test_same_inputs_same_pages(book):
    gallery.write_pages(book)
    first = {p.name: p.read_bytes() for p in (book / "_generated").glob("*.md")}
    gallery.write_pages(book)
    assert first == {p.name: p.read_bytes() for p in (book / "_generated").glob("*.md")}

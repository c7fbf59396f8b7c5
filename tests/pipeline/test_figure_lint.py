"""The figure lint (:mod:`mftransformer.companion.figlint`) over every figure of the book.

- It finds each defect it names on a figure made to have it, and nothing on a clean one.
- Every figure saved under ``book/_static/figures`` was linted when it was saved and is clean:
  its provenance holds ``"lint": []`` (a figure saved before the lint existed fails too).
- Every figure whose experiment result the results store holds is drawn again, from that result,
  by the function that plotted it, and linted again.
"""

import importlib
import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from mftransformer.companion import figures
from mftransformer.companion.figlint import lint

ROOT = Path(__file__).resolve().parents[2]
FIGURES = ROOT / "book" / "_static" / "figures"
STORE = ROOT / "book" / "_build" / "cache" / "results"


def _records() -> dict:
    if not FIGURES.is_dir():
        return {}
    return {
        p.stem: json.loads(p.read_text())
        for p in sorted(FIGURES.glob("*.json"))
        if figures.FIGURE_ID.match(p.stem)
    }


def _clean():
    fig, ax = figures.new_figure()
    L = np.array([4.0, 8.0, 16.0, 32.0, 64.0])
    ax.loglog(L, 1 / L, "o-", label="Euler")
    ax.set(xlabel="layers $L$ (dimensionless)", ylabel="error (dimensionless)")
    ax.legend(loc="lower left")
    return fig, ax, L


def test_a_clean_figure_has_no_problem():
    fig, _, _ = _clean()
    figures.tidy(fig)
    assert lint(fig) == []


def test_overlapping_texts_are_found():
    fig, ax, _ = _clean()
    ax.text(8.0, 0.1, "first label here")
    ax.text(8.0, 0.1, "second label here")
    assert any("texts overlap" in p for p in lint(fig)), lint(fig)


def test_colliding_minor_tick_labels_are_found():
    fig, ax = figures.new_figure()
    n = np.array([20.0, 30.0, 45.0, 60.0, 95.0])
    ax.loglog(n, 1 / n, "o")
    ax.set(xlabel="tokens $n$ (dimensionless)", ylabel="error (dimensionless)")
    from matplotlib.ticker import FuncFormatter, LogLocator

    # every minor tick labelled, as "3×10¹4×10¹..." under today's ch1-token-rate
    ax.xaxis.set_minor_locator(LogLocator(subs="all"))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"${v / 10:g}\\times10^{{1}}$"))
    problems = lint(fig)
    assert any("texts overlap" in p and "10" in p for p in problems), problems
    figures.tidy(fig)  # the house style labels major ticks only
    assert lint(fig) == [], lint(fig)


def test_text_off_the_canvas_is_found():
    fig, ax, _ = _clean()
    ax.set_title("a title far too long to fit on a column-wide figure of the journal, cut off")
    assert any("leaves the canvas" in p for p in lint(fig)), lint(fig)


def test_a_legend_over_data_is_found_and_tidy_moves_it():
    fig, ax, _ = _clean()
    ax.legend(loc="center")
    ax.set_xlim(3, 80)
    ax.loglog([5, 8, 12, 20, 40], [0.05, 0.05, 0.05, 0.05, 0.05], "s", label="flat")
    ax.legend(loc="center")
    assert any("legend covers" in p for p in lint(fig)), lint(fig)
    figures.tidy(fig)
    assert not any("legend covers" in p for p in lint(fig)), lint(fig)


@pytest.mark.parametrize(
    "label, ok",
    [("error", False), ("", False), ("time $t$ (dimensionless)", True), ("wall time (s)", True)],
)
def test_axis_labels_need_a_unit(label, ok):
    fig, ax, _ = _clean()
    ax.set_ylabel(label)
    problems = [p for p in lint(fig) if "y " in p]
    assert (problems == []) is ok, problems


@pytest.mark.skipif(not _records(), reason="no figure saved: run `make book` first")
def test_every_saved_figure_is_clean():
    bad = {}
    for fig_id, record in _records().items():
        if "lint" not in record:
            bad[fig_id] = ["saved before the figure lint (re-run its chapter)"]
        elif record["lint"]:
            bad[fig_id] = record["lint"]
    assert not bad, "figures with defects:\n" + "\n".join(
        f"  {k}: {p}" for k, v in bad.items() for p in v
    )


def _stored_results():
    """``(fig_id, record, result)`` for each saved figure whose result the store holds (matched
    by the function that computed it and the hash of its data)."""
    by_data = {}  # one result may make several figures
    for k, r in _records().items():
        by_data.setdefault((r.get("source"), r.get("data_sha256")), []).append((k, r))
    out = []
    for path in sorted(STORE.glob("*.pkl")) if STORE.is_dir() else []:
        try:
            result = pickle.loads(path.read_bytes())
        except Exception:  # noqa: BLE001 - a stale entry of another version: not ours to judge
            continue
        data = getattr(result, "data", None)
        if not isinstance(data, dict) or not data:
            continue
        try:
            npz = figures.npz_bytes(figures._check_data("ch1-x", data))
        except Exception:  # noqa: BLE001
            continue
        import hashlib

        key = (getattr(result, "source", None), hashlib.sha256(npz).hexdigest())
        for fig_id, record in by_data.pop(key, []):
            out.append((fig_id, record, result))
    return out


def test_figures_redrawn_from_stored_results_are_clean():
    found = _stored_results()
    if not found:
        pytest.skip("the results store holds no result of a saved figure (run `make book`)")
    bad = {}
    for fig_id, record, result in found:
        module, _, name = record["plotted_by"].partition(":")
        fig = getattr(importlib.import_module(module), name)(result)
        figures.tidy(fig)
        problems = lint(fig)
        if problems:
            bad[fig_id] = problems
    assert not bad, "figures with defects:\n" + "\n".join(
        f"  {k}: {p}" for k, v in bad.items() for p in v
    )

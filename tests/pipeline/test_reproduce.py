"""``python -m mftransformer reproduce``: one figure of each chapter recomputed from its provenance
file alone (after the book is built), and every refused input with one clear message."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mftransformer.companion import reproduce as rp
from mftransformer.companion.figures import installed_versions
from mftransformer.companion.files import git
from mftransformer.solver.errors import ParameterError

ROOT = Path(__file__).resolve().parents[2]
FIGURES = ROOT / "book" / "_static" / "figures"


def _record(**changes):
    record = {
        "figure_id": "ch4-blocks",
        "chapter": "ntk",
        "params_set": "ci",
        "params_hash": "0" * 64,
        "overrides": {},
        "source": "mftransformer.experiments.ntk:closed_form",
        "plotted_by": "mftransformer.experiments.ntk:plot_blocks",
        "git_commit": git("rev-parse", "HEAD"),
        "versions": installed_versions(),
    }
    record.update(changes)
    return record


@pytest.fixture
def provenance(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)

    def write(record, name="ch4-blocks.json"):
        path = tmp_path / name
        path.write_text(record if isinstance(record, str) else json.dumps(record))
        return path

    return write


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json at all", "not a provenance file .not JSON"),
        (json.dumps({"figure_id": "ch4-blocks"}), "not a provenance file written by save_figure"),
        (json.dumps([1, 2]), "not a provenance file written by save_figure"),
    ],
)
def test_a_file_that_is_not_provenance_is_refused(provenance, content, message):
    with pytest.raises(ParameterError, match=message):
        rp.reproduce(provenance(content))


def test_a_figure_id_that_does_not_exist_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("MFT_FIGURE_DIR", str(tmp_path))
    with pytest.raises(ParameterError, match="no figure 'ch9-nothing' in"):
        rp.reproduce("ch9-nothing")


def test_another_commit_is_refused_with_the_way_to_get_it(provenance):
    with pytest.raises(ParameterError, match=r"made at commit 123456789abc.*git checkout"):
        rp.reproduce(provenance(_record(git_commit="123456789abc" + "0" * 28)))


def test_other_versions_are_refused_with_what_differs(provenance):
    versions = {**installed_versions(), "jax": "0.0.1"}
    with pytest.raises(ParameterError, match=r"jax 0\.0\.1 \(installed .*pip install jax==0\.0\.1"):
        rp.reproduce(provenance(_record(versions=versions)))


def test_recorded_parameters_refused_today_are_reported(provenance):
    bad = _record(overrides={"closed_form": {"M": -3}})
    with pytest.raises(ParameterError, match="recorded parameters are refused today"):
        rp.reproduce(provenance(bad))


def test_a_changed_parameter_set_is_reported(provenance):
    with pytest.raises(ParameterError, match="now resolves to other values"):
        rp.reproduce(provenance(_record()))


def test_the_cli_exits_non_zero_with_one_line(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text("{}")
    out = subprocess.run(
        [sys.executable, "-m", "mftransformer", "reproduce", str(bad)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert out.returncode == 2
    assert out.stderr.startswith("error: reproduce:") and "Traceback" not in out.stderr


def _first_figure_of_each_chapter():
    if not FIGURES.is_dir():
        return []
    first = {}
    for path in sorted(FIGURES.glob("ch[1-5]-*.json")):
        record = json.loads(path.read_text())
        first.setdefault(record["chapter_number"], path)
    return [first[k] for k in sorted(first)]


@pytest.mark.site
@pytest.mark.slow
@pytest.mark.parametrize("path", _first_figure_of_each_chapter(), ids=lambda p: p.stem)
def test_one_figure_of_each_chapter_is_reproduced_exactly(path, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    for ext in ("json", "npz", "png", "svg", "pdf"):  # a copy: the book's folder stays as built
        shutil.copy(path.with_suffix(f".{ext}"), tmp_path)
    outcome = rp.reproduce(tmp_path / path.name)
    assert outcome.ok, str(outcome)

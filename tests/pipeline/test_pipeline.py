"""The pipeline's contracts: parameter files vs schemas, notebook parameter cells, the dependency
rule of the package, the documented public API, no recompilation, and the CLI's bad-input path."""

import dataclasses
import inspect
import subprocess
import sys
from pathlib import Path

import jupytext
import pytest

import mftransformer as mft
from mftransformer.companion import pipeline
from mftransformer.companion.params import CHAPTERS, available_sets, load
from mftransformer.solver.errors import ParameterError

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "mftransformer"


@pytest.mark.parametrize("params_set", ["ci", "full"])
@pytest.mark.parametrize("chapter", list(CHAPTERS))
def test_every_parameter_set_validates(chapter, params_set, monkeypatch):
    monkeypatch.chdir(ROOT)
    cfg = load(chapter, params_set)
    assert cfg.chapter == chapter and len(cfg.hash()) == 64


def test_parameter_sets_are_ci_and_full(monkeypatch):
    monkeypatch.chdir(ROOT)
    assert {"ci", "full"} <= set(available_sets())


@pytest.mark.parametrize("stem", list(CHAPTERS.values()))
def test_notebook_parameters_cell_holds_exactly_the_set_and_overrides(stem):
    source = ROOT / "notebooks" / f"{stem}.md"
    if not source.exists():
        pytest.fail(f"missing chapter source {source.relative_to(ROOT)}")
    notebook = jupytext.read(source)
    pipeline.check_parameters_cell(notebook, source.name)
    shown = [
        c
        for c in notebook.cells
        if c.cell_type == "code" and "remove-cell" not in c.metadata.get("tags", [])
    ]
    assert "mft.configure()" in shown[0].source, (
        "the first shown code cell must call mft.configure()"
    )
    assert notebook.metadata["kernelspec"]["name"] == "python3"


def test_parameters_cell_with_another_name_is_refused():
    nb = jupytext.reads(
        "```{code-cell} ipython3\n:tags: [parameters]\nparams_set = 'ci'\n"
        "overrides = {}\nL = 4\n```\n",
        fmt="md:myst",
    )
    with pytest.raises(ParameterError, match=r"allowed exactly \['params_set', 'overrides'\]"):
        pipeline.check_parameters_cell(nb, "x.md")


def test_public_api_is_documented():
    undocumented = []
    for name in mft.__all__:
        obj = getattr(mft, name)
        if inspect.isfunction(obj) or inspect.isclass(obj):
            if not (obj.__doc__ or "").strip():
                undocumented.append(name)
    assert not undocumented, f"public names without a docstring: {undocumented}"


def test_import_creates_no_array_and_changes_no_setting():
    code = (
        "import jax; before = jax.config.jax_enable_x64; import mftransformer; "
        "assert jax.config.jax_enable_x64 == before; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "ok", out.stderr


def test_cli_rejects_a_misspelt_key_before_running_anything(tmp_path):
    chapters = ROOT / "book" / "chapters"
    before = sorted(p.name for p in chapters.glob("*")) if chapters.exists() else []
    out = subprocess.run(
        [sys.executable, "-m", "mftransformer", "run", "--chapter", "01", "--set", "forward.sed=3"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert out.returncode == 2
    assert "unknown key 'sed'" in out.stderr and "Did you mean 'seed'?" in out.stderr
    after = sorted(p.name for p in chapters.glob("*")) if chapters.exists() else []
    assert before == after


def test_cli_rejects_an_unknown_chapter():
    with pytest.raises(ParameterError, match=r"CH = '07'; allowed one of 01, 02"):
        pipeline.resolve_chapters("07")


def test_schemas_have_docs_and_no_defaults():
    import importlib

    for chapter in CHAPTERS:
        schema = importlib.import_module(f"mftransformer.experiments.{chapter}").Params
        stack = [schema]
        while stack:
            cls = stack.pop()
            for f in dataclasses.fields(cls):
                if dataclasses.is_dataclass(f.type) or (
                    isinstance(f.type, type) and dataclasses.is_dataclass(f.type)
                ):
                    stack.append(f.type)
                    continue
                assert f.metadata.get("doc"), f"{cls.__name__}.{f.name} has no doc"
                assert f.default is dataclasses.MISSING, f"{cls.__name__}.{f.name} has a default"


@pytest.mark.site
@pytest.mark.parametrize("stem", list(CHAPTERS.values()))
def test_executed_chapter_shows_no_warnings_or_machine_paths(stem):
    import nbformat

    path = ROOT / "book" / "chapters" / f"{stem}.ipynb"
    if not path.exists():
        pytest.skip(f"{path.relative_to(ROOT)} is not executed: run `make book` first")
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            text = out.get("text", "") if out.get("output_type") == "stream" else ""
            assert "Warning" not in text, f"{stem}: a cell prints a warning: {text[:300]}"
            assert str(ROOT) not in json_dump(out), f"{stem}: an output shows a machine path"


def json_dump(obj) -> str:
    import json

    return json.dumps(obj)


def test_cli_refuses_overrides_for_a_chapter_not_being_run(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "mftransformer",
            "run",
            "--chapter",
            "04",
            "--set",
            "forward.seed=1",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert out.returncode == 2, out.stderr
    assert "overrides for ['forward'], which are not being run" in out.stderr
    assert "Traceback" not in out.stderr

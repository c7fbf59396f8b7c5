"""Colab: the hidden install cell (``notebooks/colab_cell.py``) and the two cells after it start.

- Fast, in ``make test``: every chapter's first code cell (the hidden one) is exactly
  ``notebooks/colab_cell.py``, and it clones the repository that ``book/_config.yml`` names.
- Opt-in (``make test-colab``, package installs): in a new virtual environment on Python 3.13 (what
  Colab runs; skipped with a reason where no 3.13 is found) holding only IPython's kernel (which
  Colab has), the hidden cell and the next two cells of chapter 4 run in one IPython shell, as in a
  Colab session, with ``MFT_COLAB_SOURCE`` pointing the install at a copy of this checkout instead
  of the network. The ``colab`` extra must then be enough: no myst-nb, no book tools.
"""

import json
import re
from pathlib import Path

import pytest
import yaml
from envtools import ROOT, find_python, run, snapshot

CELL = ROOT / "notebooks" / "colab_cell.py"
CHAPTER = "04-ntk"
CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.md"))

RUNNER = r"""
import json, sys
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
try:
    shell.colors = "NoColor"  # plain tracebacks in the test report
except Exception:
    pass
for i, source in enumerate(json.load(open(sys.argv[1]))):
    result = shell.run_cell(source, store_history=True)
    if not result.success:
        print(f"cell {i + 1} failed", file=sys.stderr)
        result.raise_error()
import os, mftransformer
print(json.dumps({"cwd": os.getcwd(), "package": mftransformer.__file__,
                  "params_set": shell.user_ns.get("params_set"),
                  "python": sys.version.split()[0]}))
"""


def _code_cells(md: Path) -> list[str]:
    """The code cells of a MyST notebook, in order, without their option lines."""
    cells = re.findall(r"^```\{code-cell\}[^\n]*\n(.*?)^```", md.read_text(), re.S | re.M)
    out = []
    for cell in cells:
        lines = cell.splitlines()
        if lines and lines[0] == "---":  # a YAML options block
            end = lines.index("---", 1)
            lines = lines[end + 1 :]
        while lines and (lines[0].startswith(":") or not lines[0].strip()):
            lines = lines[1:]
        out.append("\n".join(lines).strip("\n"))
    return out


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_first_cell_is_the_colab_cell(md):
    first = _code_cells(md)[0]
    assert first == CELL.read_text().strip("\n"), (
        f"{md.name}: the hidden first cell differs from notebooks/colab_cell.py (paste it there)"
    )


def test_colab_cell_clones_the_configured_repository():
    config = yaml.safe_load((ROOT / "book" / "_config.yml").read_text())
    repo = config["repository"]["url"].rstrip("/")
    text = CELL.read_text()
    assert f'url = "{repo}"' in text
    assert '"--branch=launch"' in text and config["repository"]["branch"] == "launch"
    assert '"[colab]"' in text and "MFT_COLAB_SOURCE" in text


@pytest.mark.envbuild
@pytest.mark.slow
def test_install_cell_and_next_two_cells_run_on_python_313(tmp_path):
    python = find_python("3.13")
    if python is None:
        pytest.skip("no Python 3.13 here (python3.13 on PATH or a pyenv build)")
    source = snapshot(tmp_path / "companion")
    env = tmp_path / "colab"
    run([python, "-m", "venv", env])
    exe = env / "bin" / "python"
    run([exe, "-m", "pip", "install", "-q", "ipykernel"], timeout=1200)  # Colab has it

    cells = [CELL.read_text(), *_code_cells(ROOT / "notebooks" / f"{CHAPTER}.md")[1:3]]
    (tmp_path / "cells.json").write_text(json.dumps(cells))
    (tmp_path / "runner.py").write_text(RUNNER)
    content = tmp_path / "content"  # Colab's working directory
    content.mkdir()
    out = run(
        [exe, tmp_path / "runner.py", tmp_path / "cells.json"],
        cwd=content,
        timeout=2400,
        extra_env={"MFT_COLAB_SOURCE": str(source)},
        check=False,
    )
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-6000:]
    state = json.loads(out.stdout.strip().splitlines()[-1])
    assert state["python"].startswith("3.13")
    assert Path(state["package"]).is_relative_to(env), "the package came from the new venv"
    assert Path(state["cwd"]) == source / "notebooks"
    assert state["params_set"] == "ci"
    # The colab extra is enough: the book's tools were not installed.
    listed = run([exe, "-m", "pip", "list", "--format=json"]).stdout
    names = {p["name"].lower().replace("_", "-") for p in json.loads(listed)}
    assert "mftransformer" in names
    assert not names & {"myst-nb", "jupyter-book", "papermill", "jupytext"}, names

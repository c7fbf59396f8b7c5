"""Python 3.12 and 3.13 (``make test-pythons``; opt-in: package installs, minutes).

For each interpreter found (``python3.X`` on PATH or a pyenv build; skipped with a reason when
missing): a virtual environment with the package and its ``book`` and ``test`` extras resolved from
pyproject's ranges (the lock file is for 3.11 only), the fast unit tests (``-m "not slow"``), and
chapter 4 executed with the ``ci`` set through jupytext and papermill. Its check lines (the printed
lines of the cells marked ``# NBVAL_CHECK_OUTPUT``) must equal those of the same chapter run under
3.11 in the locked environment, whichever JAX each Python gets.
"""

import sys
from pathlib import Path

import pytest
from envtools import (
    ROOT,
    check_lines,
    execute_chapter,
    find_python,
    run,
    snapshot,
    venv,
    versions,
)

pytestmark = [pytest.mark.envbuild, pytest.mark.slow]

PYTHONS = ("3.12", "3.13")
CHAPTER = "04-ntk"
PACKAGES = ("jax", "jaxlib", "numpy", "equinox", "diffrax")


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    return snapshot(tmp_path_factory.mktemp("tree"))


@pytest.fixture(scope="module")
def reference(tree, tmp_path_factory):
    """Chapter 4 under the running (3.11, locked) environment, on the copied tree's sources."""
    assert sys.version_info[:2] == (3, 11), "run the reference in the locked 3.11 .venv"
    out_dir = tmp_path_factory.mktemp("py311")
    source = {"PYTHONPATH": str(tree / "src")}  # the same code as the other Pythons get
    out = execute_chapter(Path(sys.executable), tree, CHAPTER, out_dir, extra_env=source)
    lines = check_lines(out)
    assert lines, "chapter 4 printed no check lines"
    return lines, versions(sys.executable, *PACKAGES)


def _environment(version: str, tree: Path) -> Path:
    python = find_python(version)
    if python is None:
        pytest.skip(f"no Python {version} here (python{version} on PATH or a pyenv build)")

    def install(exe):
        run([exe, "-m", "pip", "install", "-q", f"{tree}[book,test]"], timeout=3600)

    exe = venv(f"py{version}", python, [ROOT / "pyproject.toml"], install)
    # The package itself from today's tree, every time (its dependencies stay as installed).
    run([exe, "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", tree], timeout=600)
    return exe


@pytest.mark.parametrize("version", PYTHONS)
def test_unit_tests_and_chapter_agree(version, tree, reference, tmp_path):
    exe = _environment(version, tree)
    got = versions(exe, *PACKAGES)
    unit = run(
        [exe, "-m", "pytest", "-q", "-m", "not slow", "-p", "no:cacheprovider", "tests/unit"],
        cwd=tree,
        timeout=3600,
        check=False,
    )
    assert unit.returncode == 0, f"unit tests on {version} {got}:\n{unit.stdout[-8000:]}"

    lines = check_lines(execute_chapter(exe, tree, CHAPTER, tmp_path))
    ref_lines, ref_versions = reference
    differ = [
        f"3.11: {a}\n{version}: {b}" for a, b in zip(ref_lines, lines, strict=False) if a != b
    ]
    if len(lines) != len(ref_lines):
        differ.append(f"(line counts {len(ref_lines)} and {len(lines)})")
    assert not differ, (
        f"chapter 4's check lines differ between Python 3.11 {ref_versions} and {version} {got}:\n"
        + "\n".join(differ)
    )

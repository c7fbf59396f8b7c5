"""A killed or concurrent chapter run changes nothing that the build or nbval reads, and the book
builds with no network. Each runs the real pipeline in a scratch copy of the book's sources."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture
def scratch(tmp_path):
    """A scratch checkout: the chapter sources and the book's configuration (the package itself
    is the installed one)."""
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks")
    shutil.copytree(
        ROOT / "book",
        tmp_path / "book",
        ignore=shutil.ignore_patterns("_build", "chapters", "_static", "_generated"),
    )
    shutil.copy(ROOT / "CITATION.cff", tmp_path)
    return tmp_path


def _cli(*args):
    return [sys.executable, "-m", "mftransformer", *args]


def _env():
    return dict(os.environ, TQDM_DISABLE="1", MPLBACKEND="Agg")


def _book_files(root: Path):
    folders = [root / "book" / "chapters", root / "book" / "_static" / "figures"]
    return sorted(str(p.relative_to(root)) for f in folders if f.exists() for p in f.rglob("*"))


def test_sigterm_mid_run_leaves_no_partial_file(scratch):
    proc = subprocess.Popen(
        _cli("run", "--chapter", "04"),
        cwd=scratch,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    staging = scratch / "book" / "_build" / "staging"
    deadline = time.monotonic() + 120
    while not (staging.exists() and any(staging.glob("*/figures/*.png"))):  # mid-run: a figure
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the chapter never saved a figure"
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert "terminated (SIGTERM)" in err
    assert _book_files(scratch) == []  # nothing in book/chapters or book/_static/figures
    assert not any(staging.iterdir()), list(staging.iterdir())


def test_two_runs_of_one_chapter_are_serialised(scratch):
    first = subprocess.Popen(
        _cli("run", "--chapter", "04"),
        cwd=scratch,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(3)
    second = subprocess.run(
        _cli("run", "--chapter", "04"),
        cwd=scratch,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    out, _ = first.communicate(timeout=300)
    assert first.returncode == 0 and second.returncode == 0, second.stderr
    assert "being executed by another run; waiting" in second.stderr
    assert "ntk: from the cache" in second.stdout  # it waited, then found the first's result
    assert (scratch / "book" / "chapters" / "04-ntk.ipynb").is_file()


def _unshare_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-rn", "true"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.site
@pytest.mark.skipif(not _unshare_works(), reason="unshare -rn is not permitted here")
@pytest.mark.skipif(
    not (ROOT / "book" / "chapters" / "05-convergence.ipynb").exists(),
    reason="needs the executed chapters: run `make book` first",
)
def test_one_chapter_executes_and_the_book_builds_with_no_network(scratch):
    for folder in ("chapters", "_static", "_generated"):  # the executed book, as built
        shutil.copytree(ROOT / "book" / folder, scratch / "book" / folder)
    script = (
        "ip link set lo up 2>/dev/null || true; "
        f"{sys.executable} -m mftransformer run --chapter 04 --force && "
        f"{sys.executable} -m mftransformer build"
    )
    out = subprocess.run(
        ["unshare", "-rn", "sh", "-c", script],
        cwd=scratch,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert (scratch / "book" / "_build" / "html" / "chapters" / "04-ntk.html").is_file()

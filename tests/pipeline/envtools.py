"""Helpers for the opt-in environment tests (test_binder, test_colab, test_pythons): find a Python,
copy the working tree, build a virtual environment once per set of inputs, run a chapter with
papermill, read its check lines. Package installs are the only network use; pip's cache lives in
the repository's ignored ``.cache/pip`` (``$PIP_CACHE_DIR`` if set)."""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache"
CHECK_MARK = "# NBVAL_CHECK_OUTPUT"


def find_python(version: str) -> str | None:
    """An interpreter for ``version`` ("3.13"): ``$MFT_PYTHON<major><minor>``, then
    ``python<version>`` on PATH (a pyenv shim only counts if it runs), then pyenv's builds."""
    override = os.environ.get("MFT_PYTHON" + version.replace(".", ""))
    candidates = [override] if override else []
    candidates.append(shutil.which(f"python{version}"))
    root = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
    candidates += sorted(
        glob.glob(f"{root}/versions/{version}.*/bin/python{version}"), reverse=True
    )
    for exe in filter(None, candidates):
        try:
            out = subprocess.run(
                [exe, "-c", "import sys, venv; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True,
                text=True,
                timeout=60,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if out.returncode == 0 and out.stdout.strip() == version:
            return exe
    return None


def env() -> dict:
    """The environment for subprocesses: pip's cache under .cache/, no progress bars, Agg, and no
    variables of the calling venv leaking into the new one."""
    out = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH"}}
    out.setdefault("PIP_CACHE_DIR", str(CACHE / "pip"))
    out.update(
        TQDM_DISABLE="1",
        MPLBACKEND="Agg",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PYDEVD_DISABLE_FILE_VALIDATION="1",
    )
    return out


def run(cmd, *, cwd=None, timeout=1800, extra_env=None, check=True) -> subprocess.CompletedProcess:
    environ = env()
    environ.update(extra_env or {})
    out = subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and out.returncode != 0:
        raise AssertionError(
            f"command failed ({out.returncode}): {' '.join(map(str, cmd))}\n"
            f"--- stdout\n{out.stdout[-6000:]}\n--- stderr\n{out.stderr[-6000:]}"
        )
    return out


def snapshot(dest: Path) -> Path:
    """Copy the working tree as git sees it (tracked and untracked-but-not-ignored files) to
    ``dest``: what a clone of the branch would hold, with today's uncommitted edits.
    ``MFT_SNAPSHOT_REF=<commit>`` copies that commit instead (``git archive``)."""
    ref = os.environ.get("MFT_SNAPSHOT_REF")
    if ref:
        dest.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", ref], cwd=ROOT, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", dest], input=archive.stdout, check=True)
        return dest
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, (f.decode() for f in files)):
        src = ROOT / name
        if not src.is_file():  # deleted in the work tree, not yet in the index
            continue
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)
    return dest


def venv(name: str, python: str, inputs: list, install) -> Path:
    """A virtual environment ``.cache/envs/<name>`` built by ``install(python_exe)``, rebuilt only
    when ``inputs`` (``Path``s, whose bytes count, and strings) change.
    ``MFT_FRESH_ENVS=1`` always rebuilds. Returns the environment's python."""
    digest = hashlib.sha256(python.encode())
    for item in inputs:  # a Path: its bytes; anything else: its text
        digest.update(item.read_bytes() if isinstance(item, Path) else str(item).encode())
    key = digest.hexdigest()
    where = CACHE / "envs" / name
    stamp = where / ".inputs-sha256"
    exe = where / "bin" / "python"
    fresh = os.environ.get("MFT_FRESH_ENVS") == "1"
    if not fresh and stamp.is_file() and stamp.read_text() == key and exe.exists():
        return exe
    shutil.rmtree(where, ignore_errors=True)
    run([python, "-m", "venv", where])
    run([exe, "-m", "pip", "install", "-q", "--upgrade", "pip"])
    install(exe)
    stamp.write_text(key)
    return exe


def execute_chapter(
    python: Path, tree: Path, source: str, out_dir: Path, params_set="ci", extra_env=None
) -> Path:
    """``notebooks/<source>.md`` of ``tree`` -> jupytext -> papermill (kernel python3 of the venv,
    working directory book/chapters as for the page, relative paths) -> ``out_dir/<source>.ipynb``.
    """
    chapters = tree / "book" / "chapters"
    chapters.mkdir(parents=True, exist_ok=True)
    bindir = Path(python).parent
    src = Path("notebooks") / f"{source}.md"
    raw = Path("book") / "chapters" / f"{source}.raw.ipynb"
    run([bindir / "jupytext", "--quiet", "--to", "ipynb", "-o", raw, src], cwd=tree)
    return execute_notebook(python, tree, raw, out_dir / f"{source}.ipynb", params_set, extra_env)


def execute_notebook(
    python: Path, tree: Path, notebook: Path, out: Path, params_set="ci", extra_env=None
) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [Path(python).parent / "papermill", notebook, out, "-p", "params_set", params_set]
    cmd += ["-k", "python3", "--cwd", "book/chapters", "--no-progress-bar"]
    run(cmd, cwd=tree, timeout=1800, extra_env=extra_env)
    return out


def check_lines(notebook: Path) -> list[str]:
    """The printed lines of every cell marked ``# NBVAL_CHECK_OUTPUT`` (what nbval compares)."""
    nb = json.loads(Path(notebook).read_text())
    lines = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code" or CHECK_MARK not in "".join(cell["source"]):
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stdout":
                lines += "".join(output["text"]).splitlines()
    return lines


def python_version(python) -> str:
    return run([python, "-c", "import sys; print(sys.version.split()[0])"]).stdout.strip()


def versions(python, *names) -> dict:
    code = (
        "import json, sys\nfrom importlib import metadata\n"
        "print(json.dumps({n: metadata.version(n) for n in sys.argv[1:]}))"
    )
    return json.loads(run([python, "-c", code, *names]).stdout)


def current_python() -> str:
    return sys.executable

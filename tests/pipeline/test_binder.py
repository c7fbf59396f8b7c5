"""Binder starts (``make test-binder``; opt-in: package installs, minutes).

The Binder environment, built the way repo2docker builds it, as far as this machine allows (no
Docker engine, no conda): a new virtual environment on Python 3.11 (``environment.yml``'s Python)
with the Jupyter packages of repo2docker's own base environment at the versions of its Python 3.11
lock (below), then what conda's pip step does with ``environment.yml`` (``pip install -U -r
requirements.txt``, hash-checked), then ``postBuild`` in a copy of the repository laid out as the
``launch`` branch is (the package installed, book/chapters/<page>.ipynb paired with its source).
Then: ``pip check``; Jupyter Server's start-up imports, its event logger (jupyter_events, which
jsonschema<4 broke) and ``jupyter server --help``; and chapter 4's notebook, the one the Binder
button opens, executed with the ``ci`` set (papermill), every check line PASS.
"""

import os
import sys
from pathlib import Path

import pytest
from envtools import ROOT, check_lines, execute_notebook, find_python, run, snapshot, venv

pytestmark = [pytest.mark.envbuild, pytest.mark.slow]

# repo2docker's base environment: repo2docker/buildpacks/conda/environment.py-3.11.yml and its
# linux-64 lock (generated 2025-10-16; repo2docker's main branch of August 2026, after release
# 2026.4.0), conda packages by their PyPI names at the locked versions. jupyterhub-singleuser is
# conda's split of jupyterhub. Update these with repo2docker's lock.
REPO2DOCKER_BASE = [
    "pip==25.2",
    "jupyter_server==2.17.0",
    "jupyterlab==4.4.9",
    "notebook==7.4.7",
    "jupyterhub==5.4.0",
    "ipywidgets==8.1.7",
    "jupyter-offlinenotebook==0.3.2",
    "jupyter-resource-usage==1.2.0",
    "jupyter_events==0.12.0",
    "jsonschema[format-nongpl]==4.25.1",
    "ipykernel==7.0.1",
    "ipython==9.6.0",
    "jupyter_client==8.6.3",
    "jupyter_core==5.8.1",
    "nbclient==0.10.2",
    "nbconvert==7.16.6",
    "nbformat==5.10.4",
    "tornado==6.5.2",
    "traitlets==5.14.3",
]
CHAPTER = "04-ntk"

STARTUP = """
import jupyter_server.serverapp, jupyter_events
from jupyter_events.logger import EventLogger
from jupyter_server import DEFAULT_EVENTS_SCHEMA_PATH
logger = EventLogger()
for schema in sorted(DEFAULT_EVENTS_SCHEMA_PATH.rglob("*.yaml")):
    logger.register_event_schema(schema)
print("schemas", len(logger.schemas.schema_ids))
"""


@pytest.fixture(scope="module")
def binder(tmp_path_factory):
    python = find_python("3.11")
    if python is None:
        pytest.skip("no Python 3.11 here")
    lock = ROOT / "requirements.txt"

    def install(exe):
        run([exe, "-m", "pip", "install", "-q", *REPO2DOCKER_BASE], timeout=3600)
        # conda env update runs pip on the environment file's `pip:` list ("-r requirements.txt").
        run([exe, "-m", "pip", "install", "-q", "-U", "-r", lock], timeout=3600)

    exe = venv("binder-py311", python, [lock, "\n".join(REPO2DOCKER_BASE)], install)
    tree = snapshot(tmp_path_factory.mktemp("binder") / "repo")
    bindir = str(Path(exe).parent)
    path = bindir + os.pathsep + os.environ.get("PATH", "")
    run(["bash", "postBuild"], cwd=tree, extra_env={"PATH": path}, timeout=900)
    return exe, tree


def test_pip_check(binder):
    exe, _ = binder
    out = run([exe, "-m", "pip", "check"], check=False)
    assert out.returncode == 0, out.stdout + out.stderr


def test_jupyter_server_starts_up(binder):
    exe, _ = binder
    out = run([exe, "-c", STARTUP])
    assert int(out.stdout.split()[-1]) > 0
    help_ = run([Path(exe).parent / "jupyter", "server", "--help"])
    assert "ServerApp" in help_.stdout or "jupyter server" in help_.stdout


def test_the_package_is_the_checkout(binder):
    exe, tree = binder
    code = "import mftransformer, sys; print(mftransformer.__file__)"
    where = Path(run([exe, "-c", code]).stdout.strip())
    assert where.is_relative_to(tree), where  # postBuild's editable install of the launch tree


def test_the_binder_button_notebook_runs(binder, tmp_path):
    exe, tree = binder
    notebook = tree / "book" / "chapters" / f"{CHAPTER}.ipynb"
    assert notebook.is_file(), "postBuild did not create the notebook the Binder button opens"
    out = execute_notebook(exe, tree, notebook.relative_to(tree), tmp_path / f"{CHAPTER}.ipynb")
    lines = check_lines(out)
    assert lines and all(line.rstrip().endswith("PASS") for line in lines), lines
    assert sys.version_info >= (3, 11)

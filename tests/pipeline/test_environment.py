"""``environment.yml`` (Binder, conda): Python 3.11 (which ``requires-python`` allows, and the
Python the lock files are for), pip, and the Binder lock file ``requirements.txt`` and nothing else,
so that Binder installs exactly the locked runtime and ``book`` packages (test_lock.py checks the
lock against pyproject.toml) and no test tool. postBuild installs the package without resolving
again."""

import os
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


@pytest.fixture(scope="module")
def environment() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def _split(environment):
    conda = [d for d in environment["dependencies"] if isinstance(d, str)]
    pip = [d for d in environment["dependencies"] if isinstance(d, dict)]
    assert len(pip) == 1 and set(pip[0]) == {"pip"}, "expected one `pip:` list"
    return conda, pip[0]["pip"]


def test_pip_part_is_the_binder_lock(environment):
    _, pip = _split(environment)
    assert pip == ["-r requirements.txt"], f"environment.yml should install the lock only: {pip}"
    assert (ROOT / "requirements.txt").is_file()


def test_conda_part_is_python_311_and_pip_only(project, environment):
    conda, _ = _split(environment)
    names = {d.split("=")[0].split("<")[0].split(">")[0].strip() for d in conda}
    assert names == {"python", "pip"}, f"conda packages beyond python and pip drift: {conda}"
    (python,) = [d for d in conda if d.startswith("python")]
    version = python.split("=", 1)[1].strip("=")
    assert version == "3.11", f"the lock files are for Python 3.11, environment.yml has {python}"
    assert SpecifierSet(project["requires-python"]).contains(version + ".0"), (python, project)


def test_no_plain_requirements_beside_the_lock():
    # repo2docker ignores requirements.txt when environment.yml exists; here it is the lock that
    # environment.yml names, so it must be the hashed lock, not a hand-written list.
    text = (ROOT / "requirements.txt").read_text()
    assert "--hash=sha256:" in text and "make lock" in text


def test_postbuild_installs_the_package_without_resolving_again():
    post = ROOT / "postBuild"
    assert os.access(post, os.X_OK), "postBuild must be executable (repo2docker runs it)"
    text = post.read_text()
    assert "pip install --no-deps" in text and "-e ." in text

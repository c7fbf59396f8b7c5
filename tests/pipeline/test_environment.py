"""``environment.yml`` (Binder, conda) lists the same dependencies as ``pyproject.toml``: the
package's and its ``book`` and ``test`` extras, with the same version ranges, and a Python that
``requires-python`` allows. The ``dev`` extra (ruff) is for contributors and stays out."""

import os
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
EXTRAS = ("book", "test")


def _requirements(lines) -> dict:
    out = {}
    for line in lines:
        req = Requirement(line)
        name = canonicalize_name(req.name)
        assert name not in out, f"{name} listed twice"
        out[name] = (req.specifier, tuple(sorted(req.extras)), str(req.marker or ""))
    return out


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


def test_same_dependencies_and_ranges(project, environment):
    wanted = _requirements(
        project["dependencies"] + [r for e in EXTRAS for r in project["optional-dependencies"][e]]
    )
    _, pip = _split(environment)
    listed = _requirements(pip)
    missing = sorted(set(wanted) - set(listed))
    extra = sorted(set(listed) - set(wanted))
    assert not missing, f"in pyproject.toml but not environment.yml: {missing}"
    assert not extra, f"in environment.yml but not pyproject.toml: {extra}"
    differ = {n: (str(listed[n][0]), str(wanted[n][0])) for n in wanted if listed[n] != wanted[n]}
    assert not differ, f"version ranges differ (environment.yml, pyproject.toml): {differ}"


def test_conda_part_is_python_and_pip_only(project, environment):
    conda, _ = _split(environment)
    names = {d.split("=")[0].split("<")[0].split(">")[0].strip() for d in conda}
    assert names == {"python", "pip"}, f"conda packages beyond python and pip drift: {conda}"
    (python,) = [d for d in conda if d.startswith("python")]
    version = python.split("=", 1)[1].strip("=") + ".0"
    assert SpecifierSet(project["requires-python"]).contains(version), (python, project)


def test_postbuild_installs_the_package_without_resolving_again():
    post = ROOT / "postBuild"
    assert os.access(post, os.X_OK), "postBuild must be executable (repo2docker runs it)"
    text = post.read_text()
    assert "pip install --no-deps" in text and "-e ." in text

"""The lock files agree with ``pyproject.toml`` (``make lock`` regenerates them).

``requirements.txt`` (Binder) pins the package's dependencies and its ``book`` extra;
``requirements-test.txt`` (``make``, CI) adds the ``test`` and ``dev`` extras. Both are for Linux
x86-64 and Python 3.11, every pin with its hashes. For each lock: every requirement of pyproject
(the base, the lock's extras and the build backend) that applies to Python 3.11 on Linux is pinned
at a version inside its range; every package the lock says it pins because pyproject asks for it
(``# via mftransformer (pyproject.toml)``) is still asked for; nothing is pinned twice; the
benchmarks' torch stays out. A failure means: run ``make lock`` and commit both files.
"""

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
LOCKS = {"requirements.txt": ("book",), "requirements-test.txt": ("book", "test", "dev")}
TARGET = {  # the platform the locks are for (packaging's marker environment)
    "python_version": "3.11",
    "python_full_version": "3.11.0",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
}
FROM_PYPROJECT = "mftransformer (pyproject.toml)"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")


def parse_lock(path: Path) -> dict:
    """name -> {"version", "hashes", "via"} for each pin of a uv/pip-tools requirements file."""
    pins, current = {}, None
    for line in path.read_text().splitlines():
        match = PIN.match(line)
        if match:
            name = canonicalize_name(match.group(1))
            assert name not in pins, f"{path.name}: {name} pinned twice"
            current = pins[name] = {"version": match.group(2), "hashes": 0, "via": []}
            continue
        stripped = line.strip()
        if current is None or not stripped:
            continue
        current["hashes"] += stripped.count("--hash=sha256:")
        if stripped.startswith("#"):
            via = stripped.lstrip("#").strip()
            via = via.removeprefix("via").strip()
            if via:
                current["via"].append(via)
    return pins


@pytest.fixture(scope="module")
def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _wanted(pyproject, extras) -> list[Requirement]:
    project = pyproject["project"]
    lines = list(project["dependencies"]) + list(pyproject["build-system"]["requires"])
    for extra in extras:
        lines += project["optional-dependencies"][extra]
    reqs = [Requirement(line) for line in lines]
    return [r for r in reqs if r.marker is None or r.marker.evaluate(TARGET)]


@pytest.mark.parametrize("lock", LOCKS, ids=str)
def test_lock_is_hashed_and_for_linux_python_311(lock):
    path = ROOT / lock
    assert path.is_file(), f"{lock} is missing: run `make lock`"
    head = path.read_text().splitlines()[:3]
    assert "Linux x86-64, Python 3.11" in head[0], head
    assert "make lock" in "\n".join(head), head
    pins = parse_lock(path)
    assert len(pins) > 50, f"{lock}: only {len(pins)} pins"
    unhashed = sorted(n for n, p in pins.items() if p["hashes"] == 0)
    assert not unhashed, f"{lock}: pins without hashes: {unhashed}"


@pytest.mark.parametrize("lock", LOCKS, ids=str)
def test_every_pyproject_requirement_is_pinned_inside_its_range(lock, pyproject):
    pins = parse_lock(ROOT / lock)
    missing, outside = [], []
    for req in _wanted(pyproject, LOCKS[lock]):
        name = canonicalize_name(req.name)
        if name not in pins:
            missing.append(str(req))
        elif not req.specifier.contains(Version(pins[name]["version"]), prereleases=True):
            outside.append(f"{name}=={pins[name]['version']} (pyproject: {req.specifier})")
    assert not missing, f"{lock}: in pyproject.toml, not in the lock (make lock): {missing}"
    assert not outside, f"{lock}: pinned outside pyproject's range (make lock): {outside}"


@pytest.mark.parametrize("lock", LOCKS, ids=str)
def test_everything_pinned_for_pyproject_is_still_in_pyproject(lock, pyproject):
    pins = parse_lock(ROOT / lock)
    wanted = {canonicalize_name(r.name) for r in _wanted(pyproject, LOCKS[lock])}
    stale = sorted(n for n, p in pins.items() if FROM_PYPROJECT in p["via"] and n not in wanted)
    assert not stale, f"{lock}: pinned for pyproject.toml, which no longer asks for: {stale}"
    direct = {n for n, p in pins.items() if FROM_PYPROJECT in p["via"]}
    build = {canonicalize_name(Requirement(r).name) for r in pyproject["build-system"]["requires"]}
    assert wanted - build <= direct, f"{lock}: not marked as pyproject's: {wanted - build - direct}"


def test_the_binder_lock_has_no_test_tools_and_a_current_jsonschema(pyproject):
    pins = parse_lock(ROOT / "requirements.txt")
    extras = pyproject["project"]["optional-dependencies"]
    tools = {canonicalize_name(Requirement(r).name) for e in ("test", "dev") for r in extras[e]}
    tools -= {canonicalize_name(r.name) for r in _wanted(pyproject, ("book",))}
    # A tool may come in as another package's dependency (packaging does), never for its own sake.
    asked = sorted(n for n in tools & set(pins) if FROM_PYPROJECT in pins[n]["via"])
    assert not asked, f"test/dev tools pinned for pyproject in the Binder lock: {asked}"
    for tool in ("cffconvert", "pytest", "hypothesis", "nbval", "ruff"):
        assert tool not in pins, f"{tool} in the Binder lock (via {pins[tool]['via']})"
    # Jupyter Server's jupyter_events needs jsonschema 4 (cffconvert's jsonschema<4 broke Binder).
    assert Version(pins["jsonschema"]["version"]) >= Version("4.18")


@pytest.mark.parametrize("lock", LOCKS, ids=str)
def test_no_torch_in_the_locks(lock):
    assert "torch" not in parse_lock(ROOT / lock), "the bench extra (torch) stays out of the locks"


def test_lock_hash_is_the_test_lock(tmp_path):
    import hashlib

    from mftransformer.companion import environment

    digest = hashlib.sha256((ROOT / "requirements-test.txt").read_bytes()).hexdigest()
    assert environment.lock_hash(ROOT) == digest
    assert environment.lock_hash(tmp_path) is None

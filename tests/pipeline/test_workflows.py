"""The GitHub workflows (.github/workflows/*.yml) and the Makefile targets they call.

- pages: least privilege (nothing at the top; ``contents: read`` to build; ``pages: write`` and
  ``id-token: write`` to deploy; only a separate job may write contents, and it only pushes the
  launch branch), deploys never cancelled;
- test: every pull request runs ``make test`` (through .ci/run);
- drift: a weekly build against pyproject's open ranges, not the lock;
- release: a tag ``v*`` checks the tag against the package version, attaches the per-chapter
  bundles and the site, and pushes the repo2docker image to the repository's registry;
- every action at its current major version;
- ``make test`` always re-executes the book (``--force``); ``make book FORCE=1`` passes it.
The release asset script is run on a small fake book.
"""

import hashlib
import json
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
# Current major versions (their repositories' newest release tags, looked up December 2026).
CURRENT = {
    "actions/checkout": 7,
    "actions/setup-python": 7,
    "actions/upload-pages-artifact": 5,
    "actions/deploy-pages": 5,
    "actions/upload-artifact": 7,
    "actions/download-artifact": 8,
    "docker/login-action": 4,
}


def load(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def triggers(workflow: dict) -> dict:
    on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    return on if isinstance(on, dict) else {k: None for k in ([on] if isinstance(on, str) else on)}


def steps(job: dict) -> list[dict]:
    return job.get("steps", [])


def runs(job: dict) -> str:
    return "\n".join(s.get("run", "") for s in steps(job))


@pytest.fixture(scope="module")
def pages():
    return load("pages.yml")


def test_pages_permissions_are_least_privilege(pages):
    assert pages.get("permissions") in ({}, None), "no permissions at the top level"
    jobs = pages["jobs"]
    assert jobs["build"]["permissions"] == {"contents": "read"}
    assert jobs["deploy"]["permissions"] == {"pages": "write", "id-token": "write"}
    writers = [n for n, j in jobs.items() if j.get("permissions", {}).get("contents") == "write"]
    assert len(writers) == 1, f"exactly one job may write contents: {writers}"
    (writer,) = writers
    assert writer not in ("build", "deploy")
    assert jobs[writer]["permissions"] == {"contents": "write"}
    assert "git push" in runs(jobs[writer]) and "LAUNCH_BRANCH" in runs(jobs[writer])
    for name, job in jobs.items():
        assert "permissions" in job, f"job {name} states its permissions"
        if name != writer:
            assert "git push" not in runs(job), f"{name} pushes without contents: write"


def test_pages_deploys_are_never_cancelled(pages):
    assert pages["concurrency"]["cancel-in-progress"] is False
    deploy = pages["jobs"]["deploy"]
    assert deploy["needs"] == "build"
    assert any(s.get("uses", "").startswith("actions/deploy-pages@") for s in steps(deploy))
    assert "main" in triggers(pages)["push"]["branches"]


def test_pages_builds_afresh_from_the_lock(pages):
    build = runs(pages["jobs"]["build"])
    assert "make book" in build and "FORCE=1" in build and "DEPS=ranges" not in build


def test_every_action_is_at_its_current_major():
    seen = set()
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for job in load(path.name)["jobs"].values():
            for step in steps(job):
                if "uses" not in step:
                    continue
                action, _, ref = step["uses"].partition("@")
                assert action in CURRENT, f"{path.name}: {action} has no known current major"
                assert ref == f"v{CURRENT[action]}", f"{path.name}: {step['uses']}"
                seen.add(action)
    assert {"actions/checkout", "actions/deploy-pages", "docker/login-action"} <= seen


def test_pull_requests_run_make_test():
    workflow = load("test.yml")
    assert "pull_request" in triggers(workflow)
    assert workflow["permissions"] == {"contents": "read"}
    (job,) = workflow["jobs"].values()
    assert ".ci/run" in runs(job) or "make test" in runs(job)
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_weekly_build_uses_the_open_ranges():
    workflow = load("drift.yml")
    (schedule,) = triggers(workflow)["schedule"]
    fields = schedule["cron"].split()
    assert len(fields) == 5 and fields[4] != "*" and fields[2] == "*", "once a week"
    assert workflow["permissions"] == {"contents": "read"}
    (job,) = workflow["jobs"].values()
    assert "make test DEPS=ranges" in runs(job)


def _make_n(*args) -> str:
    out = subprocess.run(
        ["make", "-n", "--no-print-directory", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_ranges_install_ignores_the_lock_and_the_default_uses_it(tmp_path):
    venv = f"VENV={tmp_path / 'venv'}"
    ranges = _make_n("venv", venv, "DEPS=ranges")
    assert "requirements-test.txt" not in ranges and '-e ".[book,test,dev]"' in ranges
    locked = _make_n("venv", venv)
    assert "--require-hashes -r requirements-test.txt" in locked
    assert "--no-deps --no-build-isolation -e ." in locked


def test_make_test_never_uses_a_cached_book():
    assert re.search(r"\$\(MAKE\)[^\n]* book PARAMS=ci FORCE=1", (ROOT / "Makefile").read_text())
    assert "--force" in _make_n("book", "FORCE=1").splitlines()[-1]
    assert "--force" not in _make_n("book").splitlines()[-1]
    unit = [line for line in _make_n("unit").splitlines() if "pytest" in line]
    assert unit and "not envbuild" in unit[-1], "make test leaves the opt-in env builds out"


def test_release_on_a_tag_attaches_bundles_and_pushes_the_image():
    workflow = load("release.yml")
    assert triggers(workflow)["push"]["tags"] == ["v*"]
    assert workflow.get("permissions") in ({}, None)
    jobs = workflow["jobs"]
    assert jobs["build"]["permissions"] == {"contents": "read"}
    assert jobs["publish"]["permissions"] == {"contents": "write"}
    assert jobs["image"]["permissions"] == {"contents": "read", "packages": "write"}
    build = runs(jobs["build"])
    assert "GITHUB_REF_NAME" in build and "pyproject.toml" in build  # tag == v<version>
    assert "release_assets.py" in build and "FORCE=1" in build
    assert "gh release create" in runs(jobs["publish"])
    image = runs(jobs["image"])
    assert "repo2docker" in image and "--push" in image and "ghcr.io/" in image
    assert workflow["concurrency"]["cancel-in-progress"] is False


def _fake_book(tmp_path: Path) -> Path:
    book = tmp_path / "book"
    figures = book / "_static" / "figures"
    figures.mkdir(parents=True)
    (book / "chapters").mkdir()
    (book / "_build" / "html").mkdir(parents=True)
    (book / "_build" / "html" / "index.html").write_text("<html></html>")
    for fig_id, page in [("ch1-depth", "01-forward"), ("ch4-blocks", "04-ntk")]:
        files = [f"{fig_id}.{e}" for e in ("pdf", "svg", "png", "npz", "json")]
        for name in files[:-1]:
            (figures / name).write_bytes(f"{name} bytes".encode())
        record = {"figure_id": fig_id, "notebook": page, "chapter_number": 1, "files": files}
        (figures / f"{fig_id}.json").write_text(json.dumps(record))
        (book / "chapters" / f"{page}.ipynb").write_text("{}")
    return book


def _assets(book: Path, out: Path, version="0.1.0") -> subprocess.CompletedProcess:
    script = ROOT / ".github" / "scripts" / "release_assets.py"
    return subprocess.run(
        [sys.executable, script, "--version", version, "--book", book, "--out", out],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_release_assets_bundle_each_chapter(tmp_path):
    from mftransformer.companion.environment import release_asset_url

    book = _fake_book(tmp_path)
    out = tmp_path / "dist"
    result = _assets(book, out)
    assert result.returncode == 0, result.stderr
    names = {p.name for p in out.iterdir()}
    assert {"mftransformer-v0.1.0-01-forward.zip", "mftransformer-v0.1.0-04-ntk.zip"} <= names
    assert {"mftransformer-v0.1.0-site.tar.gz", "SHA256SUMS.txt", "ch4-blocks.svg"} <= names
    with zipfile.ZipFile(out / "mftransformer-v0.1.0-04-ntk.zip") as zf:
        members = set(zf.namelist())
        assert {
            "04-ntk/04-ntk.ipynb",
            "04-ntk/figures/ch4-blocks.pdf",
            "04-ntk/figures/ch4-blocks.svg",
            "04-ntk/figures/ch4-blocks.png",
            "04-ntk/data/ch4-blocks.npz",
            "04-ntk/provenance/ch4-blocks.json",
            "04-ntk/SHA256SUMS",
            "04-ntk/README.txt",
        } == members
        for line in zf.read("04-ntk/SHA256SUMS").decode().splitlines():
            digest, name = line.split("  ")
            assert hashlib.sha256(zf.read(f"04-ntk/{name}")).hexdigest() == digest
        assert "CC BY 4.0" in zf.read("04-ntk/README.txt").decode()
    with tarfile.open(out / "mftransformer-v0.1.0-site.tar.gz") as tar:
        assert "mftransformer-v0.1.0-site/index.html" in tar.getnames()
    for line in (out / "SHA256SUMS.txt").read_text().splitlines():
        digest, name = line.split("  ")
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest
    # Each figure file is an asset under the name release_asset_url cites.
    url = release_asset_url("ch4-blocks", "svg", ver="0.1.0", root=ROOT)
    assert url.endswith("/releases/download/v0.1.0/ch4-blocks.svg")
    assert url.rsplit("/", 1)[1] in names
    # Byte-reproducible.
    again = _assets(book, tmp_path / "again")
    assert again.returncode == 0
    for name in names:
        assert (out / name).read_bytes() == (tmp_path / "again" / name).read_bytes(), name


def test_release_assets_refuse_a_missing_file(tmp_path):
    book = _fake_book(tmp_path)
    (book / "_static" / "figures" / "ch1-depth.svg").unlink()
    result = _assets(book, tmp_path / "dist")
    assert result.returncode != 0 and "ch1-depth.svg is missing" in result.stderr

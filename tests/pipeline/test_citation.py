"""``CITATION.cff``: valid (``cffconvert``), the paper as preferred citation, and consistent with
the package version, the book's repository and the paper's entry in ``book/references.bib``."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CFF = ROOT / "CITATION.cff"


@pytest.fixture(scope="module")
def cff() -> dict:
    return yaml.safe_load(CFF.read_text(encoding="utf-8"))


def test_cffconvert_validates():
    # The command-line tool, as a user runs it (`cffconvert --validate`), against its own schema.
    cli = "import sys; from cffconvert.cli.cli import cli; sys.exit(cli())"
    out = subprocess.run(
        [sys.executable, "-c", cli, "--validate", "-i", str(CFF)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "valid according to schema" in out.stdout


def test_converts_to_bibtex():
    from cffconvert.cli.create_citation import create_citation

    bib = create_citation(str(CFF), None).as_bibtex()
    assert "Training infinitely deep and wide transformers" in bib


def test_preferred_citation_is_the_paper(cff):
    paper = cff["preferred-citation"]
    assert paper["title"] == "Training Infinitely Deep and Wide Transformers"
    assert "2605.17660" in paper["url"]
    families = [a["family-names"] for a in paper["authors"]]
    assert families == ["Barboni", "Furuya", "Hoop", "Peyré"]


def test_paper_agrees_with_references_bib(cff):
    bib = (ROOT / "book" / "references.bib").read_text(encoding="utf-8")
    entry = re.search(r"@\w+\{barboni2026training,(.*?)\n\}", bib, re.S)
    assert entry, "book/references.bib has no barboni2026training entry"
    fields = dict(re.findall(r"(\w+)\s*=\s*\{(.*)\},?\s*$", entry.group(1), re.M))
    paper = cff["preferred-citation"]
    assert fields["title"].strip("{}") == paper["title"]
    assert fields["eprint"] in paper["url"]
    assert str(paper["year"]) == fields["year"]


def test_version_and_repository_match(cff):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert str(cff["version"]) == project["version"]
    config = yaml.safe_load((ROOT / "book" / "_config.yml").read_text())
    assert cff["repository-code"].rstrip("/") == config["repository"]["url"].rstrip("/")

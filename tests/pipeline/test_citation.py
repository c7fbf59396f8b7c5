"""``CITATION.cff``: valid (``cffconvert``), the paper as preferred citation, and consistent with
the package version, the book's repository and the paper's entry in ``book/references.bib``; a
real maintainer (the hosting organisation, as a CFF entity, with a contact route), the licences
(LICENSE: MIT for code; CC BY 4.0 for figures, data and text, in every page's footer) and
``.zenodo.json`` agreeing with it; the version set once (pyproject.toml)."""

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


# ---------------------------------------------------------------- maintainer, licences, Zenodo
PLACEHOLDERS = re.compile(r"companion authors|companion maintainers|your name|\bto ?do\b|\btbd\b")


def test_maintainer_is_an_entity_with_a_contact_route(cff):
    (author,) = cff["authors"]
    assert set(author) >= {"name", "website"} and "family-names" not in author, author
    assert author["website"].startswith("https://github.com/")
    # The entity is the organisation that hosts the repository, and it is reached there.
    owner = cff["repository-code"].rstrip("/").rsplit("/", 2)[-2]
    assert author["website"].rstrip("/").endswith("/" + owner) and author["name"] == owner
    (contact,) = cff["contact"]
    assert contact["website"].startswith(cff["repository-code"].rstrip("/") + "/issues")


def test_no_placeholder_author_left():
    for name in ("CITATION.cff", "pyproject.toml", ".zenodo.json", "book/_config.yml"):
        text = (ROOT / name).read_text(encoding="utf-8").lower()
        found = PLACEHOLDERS.findall(text)
        assert not found, f"{name}: placeholder {found}"


def test_licence_files_and_declarations(cff):
    licence = (ROOT / "LICENSE").read_text()
    assert licence.startswith("MIT License") and "Permission is hereby granted" in licence
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT" == cff["license"]
    assert "LICENSE" in project["license-files"]


def test_every_page_footer_states_cc_by_4(cff):
    from mftransformer.companion import environment

    config = yaml.safe_load((ROOT / "book" / "_config.yml").read_text())
    footer = config["html"]["extra_footer"]
    assert "CC BY 4.0" in footer and environment.LICENCE_FIGURES_URL in footer
    assert "Code: MIT" in footer
    assert environment.LICENCE_FIGURES == "CC-BY-4.0" and environment.LICENCE_CODE == "MIT"
    assert "CC BY 4.0" in (ROOT / "README.md").read_text()


def test_zenodo_metadata_agree_with_citation_cff(cff):
    import json

    zenodo = json.loads((ROOT / ".zenodo.json").read_text(encoding="utf-8"))
    assert zenodo["title"] == cff["title"]
    assert [c["name"] for c in zenodo["creators"]] == [a["name"] for a in cff["authors"]]
    assert zenodo["license"] == cff["license"]
    assert zenodo["upload_type"] == "software"
    assert sorted(zenodo["keywords"]) == sorted(cff["keywords"])
    related = {r["identifier"] for r in zenodo["related_identifiers"]}
    assert "arXiv:2605.17660" in related and cff["repository-code"] in related
    assert "version" not in zenodo, "the version is the release tag (pyproject.toml), not here"


def test_version_is_set_in_one_place():
    from mftransformer.companion import environment

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert environment.version() == project["version"]
    assert "version" not in project.get("dynamic", [])
    url = environment.release_asset_url("ch1-depth-rate", "pdf", root=ROOT)
    assert url == (
        "https://github.com/mftransformer/mftransformer-companion/releases/download/"
        f"v{project['version']}/ch1-depth-rate.pdf"
    )
    with pytest.raises(ValueError):
        environment.release_asset_url("../etc/passwd", "pdf", root=ROOT)
    with pytest.raises(ValueError):
        environment.release_asset_url("ch1-depth-rate", "exe", root=ROOT)

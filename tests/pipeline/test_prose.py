"""The prose claims what the book shows and no more.

Every page a reader meets (chapters, book pages, the README, the parameter files' headers and
the text the companion generates for the Status, Figures and Results pages) is scanned for
phrases that overclaim: the book reconstructs the paper's statements from its abstract, so it
never says what "the paper computes" or "defines", that anything "proves" a result, that a
parameter set is "paper scale", or that a reader can "see" a result "hold". Quotations of the
abstract (markdown block quotes, lines starting with ``>``) are exempt.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [
    *sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.md")),
    *sorted((ROOT / "book").glob("*.md")),
    ROOT / "README.md",
    *sorted((ROOT / "notebooks" / "params").glob("*.yaml")),
    # generated pages: their text is written by these modules
    *sorted((ROOT / "src" / "mftransformer" / "companion").glob("*.py")),
    *sorted((ROOT / "src" / "mftransformer" / "experiments").rglob("claims.py")),
    *sorted((ROOT / "src" / "mftransformer" / "experiments").rglob("params.py")),
]

#: phrase -> why it overclaims
OVERCLAIMS = {
    r"the paper computes": "only the abstract is known: say what this book computes",
    r"the paper defines": "the definitions are our reconstruction",
    r"\bproves\b": "a chapter shows numerical signatures; it is no proof",
    r"paper[ -]scale": "the large set's sizes are ours: call it 'the large set'",
    r"paper's (?:experiment )?sizes|sizes of the paper": "the abstract gives no sizes",
    r"see (?:it|them|each \w+) hold": "the book shows numerical signatures, not that results hold",
}


def _prose_lines(path: Path):
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.lstrip().startswith(">"):
            continue  # a quotation of the abstract
        yield number, line


@pytest.mark.parametrize("path", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_overclaiming_phrase(path):
    found = [
        f"{path.relative_to(ROOT)}:{number}: {phrase!r} ({why}): {line.strip()}"
        for number, line in _prose_lines(path)
        for phrase, why in OVERCLAIMS.items()
        if re.search(phrase, line, re.I)
    ]
    assert not found, "\n".join(found)


def test_the_scan_can_fail(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("> the paper computes X (a quotation: allowed)\nThis proves Result 5.\n")
    hits = [
        line
        for _, line in _prose_lines(page)
        for phrase in OVERCLAIMS
        if re.search(phrase, line, re.I)
    ]
    assert hits == ["This proves Result 5."]
    assert len(PAGES) > 20 and all(p.exists() for p in PAGES)

"""Numbers in the text are computed: no chapter states a result in hand-typed digits.

The prose of ``notebooks/0k-*.md`` (markdown cells, theorem boxes included) is scanned, after
removing code, glue roles, citations, labels, links and the front matter, for

- a decimal with three or more significant digits (``1.02``, ``0.987``, ``3.4e-5`` has two and is
  a tolerance-like bound, allowed), in text or in inline math: results are printed that way;
- any number right after a word that announces a measurement (``≈ 0.9``, ``about 3 %``,
  ``we measure 12``, ``drops to 1e-8``).

Every ``{glue:...}`` key the prose uses must be glued by a code cell of the same notebook.
Theory (orders ``1`` and ``2``, ``h = 1/L``, tolerances such as ``± 0.1``) stays allowed.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.md"))

_STRIP = [
    re.compile(r"\A---\n.*?\n---\n", re.S),  # front matter
    re.compile(r"```.*?```|~~~.*?~~~", re.S),  # code cells, fenced code
    re.compile(r"\{glue(?::\w+)?\}`[^`]*`"),  # glue roles
    re.compile(r"\{(?:cite|cite:\w+|ref|numref|eq|doc|prf:ref|download|term)\}`[^`]*`"),
    re.compile(r"`[^`\n]*`"),  # inline code
    re.compile(r"\]\([^)]*\)"),  # link targets
    re.compile(r"https?://\S+"),
    re.compile(r"^\s*:[\w-]+:.*$", re.M),  # directive options (:label:)
    re.compile(r"^\([\w:-]+\)=\s*$", re.M),  # targets
    re.compile(r"<!--.*?-->", re.S),
]
_DIRECTIVE = re.compile(r"^(```+|:::+)\{(?!code-cell)[\w:-]+\}.*?$\n(.*?)^\1\s*$", re.S | re.M)
_NUMBER = re.compile(r"(?<![\w.])[-−]?\d+(?:\.\d+)?(?:[eE][-+−]?\d+)?(?![\w.])")
_ANNOUNCE = re.compile(
    r"(?:≈|~|\\approx|about|roughly|approximately|around|measured?|we (?:get|find|obtain|see)|"
    r"(?:drops?|falls?|grows?|rises?) to|reaches|comes out at|is now)\s*\$?\s*[-−]?\d",
    re.I,
)


def _prose(text: str) -> str:
    """The markdown a reader reads: directive bodies kept (theorem boxes are prose), code cells,
    code, glue and references removed."""
    text = _DIRECTIVE.sub(lambda m: "\n" + m.group(2) + "\n", text)
    for pattern in _STRIP:
        text = pattern.sub(" ", text)
    return text


def _significant(number: str) -> int:
    mantissa = re.split(r"[eE]", number.replace("−", "-").lstrip("-"))[0]
    if "." not in mantissa:
        return 0  # integers: counts, orders, chapter numbers
    return len(mantissa.replace(".", "").lstrip("0"))


def hand_typed(text: str) -> list[str]:
    """Lines of ``text`` (a MyST source) that state a number a computation should supply."""
    found = []
    for line in _prose(text).splitlines():
        numbers = [n for n in _NUMBER.findall(line) if _significant(n) >= 3]
        if numbers or _ANNOUNCE.search(line):
            found.append(line.strip())
    return found


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_no_hand_typed_results(source):
    found = hand_typed(source.read_text(encoding="utf-8"))
    assert not found, (
        f"{source.name} states numbers by hand; glue them from the executed cell "
        "(glue('key', value, display=False) and {glue:text}`key:.2f`):\n  " + "\n  ".join(found)
    )


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_every_glued_key_is_computed_in_the_chapter(source):
    text = source.read_text(encoding="utf-8")
    used = set(re.findall(r"\{glue(?::\w+)?\}`([\w.-]+)", text))
    glued = set(re.findall(r"""\bglue\(\s*["']([\w.-]+)["']""", text))
    assert used <= glued, f"{source.name}: prose uses unglued keys {sorted(used - glued)}"


@pytest.mark.parametrize(
    "line",
    [
        "The fitted slope is -1.02, as predicted.",
        "the error drops to 1e-8 at L = 64",
        "The relative error is about 3 %.",
        "we measure $\\hat\\alpha = -0.987$ for Euler",
        "so the NTK is ≈ 12 times larger",
    ],
)
def test_the_scan_catches_typed_results(line):
    assert hand_typed(f"# Title\n\n{line}\n")


@pytest.mark.parametrize(
    "line",
    [
        "The fitted slope is {glue:text}`slope:.2f`, as predicted.",
        "Euler has order 1 and Heun order 2: slopes $-1$ and $-2$, within ± 0.1.",
        "With $h = 1/L$ and $L = 64$ layers, chapter 3 uses 4 heads.",
        "adjoint and autodiff agree below 1e-12 in float64 ({cite}`barboni2026training`, 2026).",
        "```{code-cell} ipython3\nx = 1.2345\n```",
    ],
)
def test_the_scan_allows_theory_and_glue(line):
    assert not hand_typed(f"# Title\n\n{line}\n")

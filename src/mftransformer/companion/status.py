"""The Status page and the run-time table: every check of every executed chapter, from data.

The checks are read from ``chapters/<stem>.checks.json``, which the pipeline writes next to each
executed notebook from its figures' provenance (structured data: nothing is parsed back from
printed output), and joined with the chapter's claims table
(:func:`mftransformer.experiments.claims`): what each check measures, whether it is a sanity
check of the numerics or a test of the chapter's result, and why its band is what it is.
"""

import dataclasses
import json
from pathlib import Path

from .params import CHAPTERS

__all__ = ["CheckRow", "read_checks", "status_page", "timings_page", "chapter_title"]


@dataclasses.dataclass(frozen=True)
class CheckRow:
    """One check of an executed chapter, with its claim's description."""

    chapter: str  # notebook stem
    name: str
    shown: str
    expected: str
    passed: bool
    params_set: str
    line: str
    figure_id: str | None
    doc: str
    sanity: bool
    section: str | None
    reason: str

    @property
    def status(self) -> str:
        return "PASS" if self.passed else "FAIL"


def read_checks(book_dir: Path) -> list[CheckRow]:
    """Every check of the executed chapters under ``book_dir``, in book and page order."""
    from ..experiments import claims

    rows = []
    for chapter, stem in CHAPTERS.items():
        path = Path(book_dir) / "chapters" / f"{stem}.checks.json"
        if not path.exists():
            continue
        document = json.loads(path.read_text(encoding="utf-8"))
        table = claims(chapter)
        for check in document["checks"]:
            claim = table[check["name"]] if check["name"] in table.names else None
            rows.append(
                CheckRow(
                    chapter=stem,
                    name=check["name"],
                    shown=_shown(check),
                    expected=check["expected"],
                    passed=bool(check["passed"]),
                    params_set=document.get("params_set", "?"),
                    line=check["line"],
                    figure_id=check.get("figure_id"),
                    doc=claim.doc if claim else "",
                    sanity=bool(claim and claim.sanity),
                    section=claim.section if claim else None,
                    reason=claim.reason if claim else "",
                )
            )
    return rows


def status_page(rows: list[CheckRow], notebooks: dict, precision: dict) -> str:
    """The Status page: a summary, then per chapter one table row per check.

    ``precision`` maps a notebook stem to the float precision its figures record.
    """
    failed = [r for r in rows if not r.passed]
    lines = [
        "# Status of every check",
        "",
        "Every numerical check of every chapter of this build, read from the checks that each",
        "executed chapter recorded. A *test of the result* compares a measured value with what the",
        "chapter's (reconstructed) statement predicts, within a stated band; a *sanity check*",
        "tests the numerics themselves (round-off, a floor reached, an identity that holds by",
        "construction). A failing check stops its chapter, so a built book normally shows only",
        "passes. The band of each check and the reason for it are in the chapter's claims table.",
        "",
    ]
    if not rows:
        return "\n".join([*lines, "No check has been run yet: run `make book`.", ""])
    sanity = sum(r.sanity for r in rows)
    verdict = "all pass" if not failed else f"{len(failed)} FAIL"
    lines += [
        f"**{len(rows)} checks in {len({r.chapter for r in rows})} chapters "
        f"({len(rows) - sanity} tests of the results, {sanity} sanity checks): {verdict}.**",
        "",
    ]
    missing = [s for s in CHAPTERS.values() if s not in notebooks]
    if missing:
        lines += ["Not executed in this build: " + ", ".join(f"`{s}`" for s in missing) + ".", ""]
    for stem in CHAPTERS.values():
        chapter_rows = [r for r in rows if r.chapter == stem]
        if not chapter_rows:
            continue
        params_set = chapter_rows[0].params_set
        lines += [
            f"## {chapter_title(stem, notebooks)}",
            "",
            f"Chapter {{doc}}`/chapters/{stem}`, parameter set `{params_set}`, "
            f"{precision.get(stem, 'float64')}.",
            "",
            "| check | what it measures | measured | expected | kind | status |",
            "|---|---|---|---|---|---|",
        ]
        for r in chapter_rows:
            where = f" ({{ref}}`{_cell(r.section)} <{r.figure_id}>`)" if r.section else ""
            status = "PASS" if r.passed else "**FAIL**"
            kind = "sanity check" if r.sanity else "test of the result"
            lines.append(
                f"| `{r.name}` | {_cell(r.doc)}{where} | {_cell(r.shown)} | "
                f"{_cell(r.expected)} | {kind} | {status} |"
            )
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def timings_page(path: Path, notebooks) -> str:
    """The run-time table included by the Reproduce page (from ``_generated/timings.json``)."""
    timings = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    if not timings:
        return "No run has been recorded yet: `make book` records the run time of each chapter.\n"
    cpus = sorted({str(t.get("cpus")) for t in timings.values() if t.get("cpus")})
    lines = [
        "| chapter | parameter set | wall time (s) | programs compiled | this build |",
        "|---|---|---|---|---|",
    ]
    total = 0.0
    for stem in sorted(timings, key=lambda s: (s not in CHAPTERS.values(), s)):
        t = timings[stem]
        title = f"{{doc}}`/chapters/{stem}`" if stem in notebooks else f"`{stem}`"
        how = "from the results cache" if t.get("cached") else "executed"
        compiled = t.get("compilations", "")
        lines.append(
            f"| {title} | `{t.get('params_set', '?')}` | {float(t['wall_s']):.1f} | {compiled} "
            f"| {how} |"
        )
        total += float(t["wall_s"])
    lines.append(f"| total | | {total:.1f} | | |")
    where = f" on {', '.join(cpus)} CPU cores" if cpus else ""
    return (
        "Run time of each chapter (papermill execution, including compilation), as measured"
        f" when it was last executed{where}. *Programs compiled* counts the XLA programs that"
        " JAX's persistent compilation cache (`book/_build/jax-cache`) did not hold yet: a"
        " re-execution with a warm cache compiles none.\n\n" + "\n".join(lines) + "\n"
    )


def chapter_title(stem, notebooks) -> str:
    """``k. <the page's title>`` of an executed chapter."""
    if stem is None:
        return "Figures of no current chapter"
    for cell in notebooks.get(stem, {}).get("cells", []):
        if cell.get("cell_type") == "markdown":
            source = cell.get("source", "")
            for line in ("".join(source) if isinstance(source, list) else source).splitlines():
                if line.startswith("# "):
                    return f"{int(stem[:2])}. {line[2:].strip()}"
    return stem


def _shown(check: dict) -> str:
    """The value as the check line prints it; a bound printed without its value shows the
    measured value to two digits."""
    line = check["line"]
    if " = " in line and " (expected " in line:
        return line.split(" = ", 1)[1].rsplit(" (expected ", 1)[0]
    return f"{float(check['measured']):.2g}"


def _cell(text) -> str:
    return str(text).replace("|", r"\|").replace("\n", " ")

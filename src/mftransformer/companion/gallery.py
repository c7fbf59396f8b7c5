"""The generated pages of the book: Figures, Status, and the run-time table of Reproduce.

``write_pages(book_dir)`` reads what the executed chapters left behind, and nothing else:

- ``_static/figures/<id>.json``: the provenance of each figure (:func:`mftransformer.save_figure`);
- ``chapters/<stem>.ipynb``: each figure's caption and position (the cell's ``mystnb.figure``
  metadata), each check line (output of the cells starting with ``# NBVAL_CHECK_OUTPUT``) and the
  parameter set papermill injected;
- ``_generated/timings.json``: the wall time of each chapter, recorded by the pipeline;
- ``CITATION.cff`` (next to ``book/``) and ``_config.yml``: who to cite and where the code lives;

and writes ``_generated/figures.md``, ``_generated/status.md`` and ``_generated/timings.md``
(included by ``reproduce.md``). Nothing in them is typed by hand, and the same inputs give the same
bytes (no dates; sorted).
"""

import dataclasses
import json
import re
import subprocess
from pathlib import Path

import yaml

from .files import git
from .figures import FIGURE_ID
from .params import CHAPTERS

__all__ = ["write_pages", "read_checks", "read_figures", "bibtex_entry", "CheckRow", "FigureEntry"]

CHECK_MARK = "# NBVAL_CHECK_OUTPUT"
#: ``name = shown (expected E): PASS`` or ``name E: PASS`` (a bound, printed without the noise).
_LINE = re.compile(
    r"^(?P<name>[A-Za-z_][\w.\-]*)"
    r"(?: = (?P<shown>.+?) \(expected (?P<expected>.+)\)| (?P<bound>[<>] .+|in \[.+\]))"
    r": (?P<status>PASS|FAIL)\s*$"
)
_LABELS = {
    "pdf": "PDF",
    "svg": "SVG",
    "png": "PNG",
    "npz": "data (NPZ)",
    "csv": "data (CSV)",
    "json": "provenance (JSON)",
}


@dataclasses.dataclass(frozen=True)
class CheckRow:
    """One check line of an executed chapter."""

    chapter: str
    name: str
    measured: str
    expected: str
    tolerance: str
    status: str
    params_set: str
    line: str


@dataclasses.dataclass(frozen=True)
class FigureEntry:
    """One figure: its id, chapter, caption (from the notebook) and provenance (from its JSON)."""

    fig_id: str
    stem: str | None
    caption: str | None
    record: dict | None


def write_pages(book_dir: Path) -> dict:
    """Write ``_generated/{figures,status,timings}.md`` under ``book_dir``.

    Args:
        book_dir: the book's folder (holding ``_config.yml``, ``chapters/``, ``_static/figures/``).

    Returns:
        ``{"figures": [FigureEntry], "checks": [CheckRow], "pages": [Path]}``.
    """
    book_dir = Path(book_dir)
    out = book_dir / "_generated"
    out.mkdir(parents=True, exist_ok=True)
    config = _read_yaml(book_dir / "_config.yml")
    cff = _read_yaml(book_dir.parent / "CITATION.cff")
    notebooks = _notebooks(book_dir)
    figures = read_figures(book_dir, notebooks)
    checks = read_checks(notebooks, _measured(figures))
    pages = {
        "figures.md": _figures_page(figures, notebooks, config, cff, book_dir),
        "status.md": _status_page(checks, notebooks),
        "timings.md": _timings_page(book_dir / "_generated" / "timings.json", notebooks),
    }
    written = []
    for name, text in pages.items():
        path = out / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        written.append(path)
    return {"figures": figures, "checks": checks, "pages": written}


def read_figures(book_dir: Path, notebooks: dict | None = None) -> list[FigureEntry]:
    """Every figure named in an executed chapter or saved under ``_static/figures``, in book
    order (chapter, then position in the chapter; figures no chapter shows come last)."""
    notebooks = _notebooks(book_dir) if notebooks is None else notebooks
    shown = {}  # fig_id -> (stem, position, caption)
    for stem, nb in notebooks.items():
        for position, cell in enumerate(nb.get("cells", [])):
            figure = cell.get("metadata", {}).get("mystnb", {}).get("figure", {})
            if isinstance(figure, dict) and figure.get("name"):
                shown[figure["name"]] = (stem, position, figure.get("caption"))
    records = {}
    for path in sorted((Path(book_dir) / "_static" / "figures").glob("*.json")):
        if FIGURE_ID.match(path.stem):
            records[path.stem] = json.loads(path.read_text(encoding="utf-8"))
    stems = list(CHAPTERS.values())

    def order(fig_id):
        stem, position, _ = shown.get(fig_id, (None, 10**9, None))
        record = records.get(fig_id) or {}
        stem = stem or record.get("notebook")
        return (stems.index(stem) if stem in stems else len(stems), position, fig_id)

    entries = []
    for fig_id in sorted(set(shown) | set(records), key=order):
        stem, _, caption = shown.get(fig_id, (None, None, None))
        record = records.get(fig_id)
        entries.append(FigureEntry(fig_id, stem or (record or {}).get("notebook"), caption, record))
    return entries


def read_checks(notebooks: dict, measured: dict | None = None) -> list[CheckRow]:
    """Every check line printed by a ``# NBVAL_CHECK_OUTPUT`` cell of the executed chapters.

    A check printed as a bound (``adjoint_vs_autodiff < 1e-12: PASS``) shows the value recorded
    in ``measured`` (``{(stem, name): float}``, from the figures' provenance) when there is one.
    """
    measured = measured or {}
    rows = []
    for stem, nb in notebooks.items():
        params_set = _params_set(nb)
        for cell in nb.get("cells", []):
            if cell.get("cell_type") != "code" or not _source(cell).lstrip().startswith(CHECK_MARK):
                continue
            for output in cell.get("outputs", []):
                if output.get("output_type") != "stream" or output.get("name") != "stdout":
                    continue
                for line in _text(output).splitlines():
                    row = _parse_check(stem, line.strip(), params_set)
                    if (
                        row is not None
                        and row.measured.startswith("(")
                        and (stem, row.name) in measured
                    ):
                        row = dataclasses.replace(row, measured=f"{measured[stem, row.name]:.2g}")
                    if row is not None:
                        rows.append(row)
    return rows


def bibtex_entry(
    fig_id: str,
    cff: dict,
    *,
    commit: str | None,
    year: str | None,
    site_url: str | None,
    params: str | None,
) -> str:
    """A "cite this figure" BibTeX entry from ``CITATION.cff`` and the figure id.

    The entry cites the companion (its authors, title and version from ``CITATION.cff``) at the
    figure, with the stable URL of the figure's PDF, the commit and the parameter set; a note names
    the paper (the preferred citation).
    """
    authors = " and ".join(_bib_author(a) for a in cff.get("authors", [])) or "{Anonymous}"
    fields = [
        ("author", authors),
        ("title", f"{_bib_text(cff.get('title', 'Companion'))}: Figure {fig_id}"),
    ]
    if year:
        fields.append(("year", year))
    if cff.get("version"):
        fields.append(("version", str(cff["version"])))
    if site_url:
        fields.append(("url", f"{site_url.rstrip('/')}/_static/figures/{fig_id}.pdf"))
    note = [f"Figure {fig_id}"]
    if params:
        note.append(f"parameter set {params}")
    if commit:
        note.append(f"commit {commit[:12]}")
    paper = cff.get("preferred-citation") or {}
    if paper:
        names = [a.get("family-names", a.get("name", "")) for a in paper.get("authors", [])]
        particles = [a.get("name-particle") for a in paper.get("authors", [])]
        names = [f"{p} {n}" if p else n for p, n in zip(particles, names, strict=True)]
        note.append(
            f"companion to {_join(names)}, ``{paper.get('title', '')}'', "
            f"{paper.get('journal', paper.get('url', ''))}, {paper.get('year', '')}"
        )
    fields.append(("note", _bib_text("; ".join(note))))
    key = f"mftransformer:{fig_id}"
    width = max(len(k) for k, _ in fields)
    body = ",\n".join(f"  {k:<{width}} = {{{v}}}" for k, v in fields)
    return f"@misc{{{key},\n{body}\n}}"


# ---------------------------------------------------------------- pages
def _figures_page(figures, notebooks, config, cff, book_dir) -> str:
    repo = (config.get("repository") or {}).get("url", "").rstrip("/")
    site = cff.get("url")
    lines = [
        "# Figures",
        "",
        "Every figure of the book, in the order of the chapters, with its caption, its files,",
        "the data behind it, where it came from and how to cite it. The files are named by the",
        "figure id and keep their name from one build to the next; the provenance file records",
        "the parameter set and its hash, the seed, the commit, the package versions, the run time",
        "and the function that computed the data. The same parameter set at the same commit gives",
        "the same bytes.",
        "",
        "This page is generated by `make book` from the executed chapters.",
        "",
    ]
    if not figures:
        lines += ["No figure has been made yet: run `make book`.", ""]
    current = object()
    for entry in figures:
        if entry.stem != current:
            current = entry.stem
            lines += [f"## {_chapter_title(entry.stem, notebooks)}", ""]
        lines += _figure_block(entry, notebooks, repo, site, cff, book_dir)
    return "\n".join(lines).rstrip() + "\n"


def _figure_block(entry, notebooks, repo, site, cff, book_dir) -> list[str]:
    fig_id, record = entry.fig_id, entry.record or {}
    lines = [f"### {fig_id}", ""]
    folder = book_dir / "_static" / "figures"
    if (folder / f"{fig_id}.png").exists():
        lines += [f"![{_alt(entry.caption or fig_id)}](../_static/figures/{fig_id}.png)", ""]
    if entry.caption:
        lines += [f"**Caption.** {entry.caption}", ""]
    if entry.stem in notebooks and entry.caption is not None:
        lines += [f"Shown in {{ref}}`{_chapter_title(entry.stem, notebooks)} <{fig_id}>`.", ""]
    if not entry.record:
        lines += [
            "```{warning}",
            f"No files were saved for `{fig_id}`: its chapter shows it but",
            "did not call `save_figure` for it.",
            "```",
            "",
        ]
        return lines
    if entry.stem not in notebooks:
        lines += [
            "```{note}",
            "No executed chapter of this build shows this figure; its files",
            "come from an earlier run (`make clean` removes them).",
            "```",
            "",
        ]
    files = [f for f in record.get("files", []) if (folder / f).exists()]
    links = [
        f'<a href="../_static/figures/{f}" download="{f}">{_LABELS.get(f.rsplit(".", 1)[1], f)}</a>'
        for f in files
    ]
    lines += ["Download: " + " · ".join(links), ""]
    lines += _provenance_table(record, repo)
    commit = record.get("git_commit")
    params = _params_text(record)
    lines += [
        "Cite this figure:",
        "",
        "```bibtex",
        bibtex_entry(
            fig_id,
            cff,
            commit=commit,
            year=_commit_year(commit),
            site_url=site,
            params=params.replace("`", "") if params else None,
        ),
        "```",
        "",
    ]
    return lines


def _provenance_table(record, repo) -> list[str]:
    commit = record.get("git_commit")
    rows = []
    params = _params_text(record)
    if params:
        rows.append(("parameter set", params))
    if record.get("seed") is not None:
        rows.append(("seed", f"`{record['seed']}`"))
    for key, label in (("source", "computed by"), ("plotted_by", "plotted by")):
        if record.get(key):
            rows.append((label, _code_link(record[key], commit, repo)))
    if commit:
        text = f"`{commit[:12]}`"
        if repo:
            text = f"[{text}]({repo}/tree/{commit})"
        if record.get("git_dirty"):
            text += " (with uncommitted changes)"
        rows.append(("commit", text))
    versions = record.get("versions") or {}
    if versions:
        rows.append(("versions", ", ".join(f"{k} {v}" for k, v in sorted(versions.items()) if v)))
    run = record.get("run") or {}
    if run.get("wall_s") is not None:
        rows.append(("run time", f"{run['wall_s']:.1f} s on {run.get('device', '?')}"))
    if record.get("x64") is not None:
        rows.append(("precision", "float64" if record["x64"] else "float32"))
    for check in record.get("checks") or []:
        rows.append(("check", f"`{check.get('line', check.get('name'))}`"))
    if record.get("data_sha256"):
        rows.append(("data SHA-256", f"`{record['data_sha256'][:16]}…`"))
    if not rows:
        return []
    return ["| provenance | |", "|---|---|", *(f"| {k} | {_cell(v)} |" for k, v in rows), ""]


def _status_page(checks, notebooks) -> str:
    failed = [c for c in checks if c.status != "PASS"]
    lines = [
        "# Status of every check",
        "",
        "Every numerical check of every chapter, as printed by the executed notebooks of this",
        "build (the cells marked `# NBVAL_CHECK_OUTPUT`). A check compares a measured value with",
        "what the paper predicts, within a stated tolerance; a failing check stops its chapter,",
        "so a built book normally shows only passes.",
        "",
        "This page is generated by `make book` from the executed chapters.",
        "",
    ]
    missing = [s for s in CHAPTERS.values() if s not in notebooks]
    if checks:
        verdict = "all pass" if not failed else f"{len(failed)} FAIL"
        lines += [
            f"**{len(checks)} checks in {len({c.chapter for c in checks})} chapters: {verdict}.**",
            "",
        ]
    else:
        lines += ["No check has been run yet: run `make book`.", ""]
    if missing and notebooks:
        lines += ["Not executed in this build: " + ", ".join(f"`{s}`" for s in missing) + ".", ""]
    for stem in [s for s in CHAPTERS.values() if s in notebooks]:
        rows = [c for c in checks if c.chapter == stem]
        lines += [f"## {_chapter_title(stem, notebooks)}", ""]
        if not rows:
            lines += ["This chapter printed no check.", ""]
            continue
        lines += [
            f"Chapter: {{doc}}`/chapters/{stem}`.",
            "",
            "| check | measured | expected | tolerance | status | parameter set |",
            "|---|---|---|---|---|---|",
        ]
        for c in rows:
            status = "PASS" if c.status == "PASS" else "**FAIL**"
            lines.append(
                f"| `{c.name}` | {_cell(c.measured)} | {_cell(c.expected)} | "
                f"{_cell(c.tolerance)} | {status} | `{c.params_set}` |"
            )
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _timings_page(path: Path, notebooks) -> str:
    timings = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    if not timings:
        return "No run has been recorded yet: `make book` records the run time of each chapter.\n"
    cpus = sorted({str(t.get("cpus")) for t in timings.values() if t.get("cpus")})
    lines = ["| chapter | parameter set | wall time (s) |", "|---|---|---|"]
    total = 0.0
    for stem in sorted(timings, key=lambda s: (s not in CHAPTERS.values(), s)):
        t = timings[stem]
        title = f"{{doc}}`/chapters/{stem}`" if stem in notebooks else f"`{stem}`"
        lines.append(f"| {title} | `{t.get('params_set', '?')}` | {float(t['wall_s']):.1f} |")
        total += float(t["wall_s"])
    lines.append(f"| total | | {total:.1f} |")
    where = f" on {', '.join(cpus)} CPU cores" if cpus else ""
    return (
        "Run time of each chapter (papermill execution, including compilation), as measured"
        f" by the last `make book`{where}:\n\n" + "\n".join(lines) + "\n"
    )


# ---------------------------------------------------------------- private
def _measured(figures) -> dict:
    out = {}
    for entry in figures:
        for check in (entry.record or {}).get("checks") or []:
            if isinstance(check, dict) and isinstance(check.get("measured"), int | float):
                out[entry.stem, check["name"]] = float(check["measured"])
    return out


def _notebooks(book_dir: Path) -> dict:
    out = {}
    for stem in CHAPTERS.values():
        path = Path(book_dir) / "chapters" / f"{stem}.ipynb"
        if path.exists():
            out[stem] = json.loads(path.read_text(encoding="utf-8"))
    return out


def _read_yaml(path: Path) -> dict:
    return (yaml.safe_load(path.read_text(encoding="utf-8")) or {}) if path.exists() else {}


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _text(output) -> str:
    text = output.get("text", "")
    return "".join(text) if isinstance(text, list) else text


def _params_set(nb) -> str:
    params = (nb.get("metadata", {}).get("papermill") or {}).get("parameters") or {}
    name = params.get("params_set", "?")
    return f"{name} + overrides" if params.get("overrides") else name


def _parse_check(stem, line, params_set) -> CheckRow | None:
    match = _LINE.match(line)
    if match is None:
        return None
    if match["bound"]:
        measured, expected, tolerance = "(below the bound)", match["bound"], "—"
        if match["bound"].startswith(">"):
            measured = "(above the bound)"
        if match["bound"].startswith("in"):
            measured = "(in the interval)"
    else:
        measured = match["shown"]
        expected, _, tolerance = match["expected"].partition(" ± ")
        tolerance = f"± {tolerance}" if tolerance else "—"
    return CheckRow(
        stem, match["name"], measured, expected, tolerance, match["status"], params_set, line
    )


def _chapter_title(stem, notebooks) -> str:
    if stem is None:
        return "Figures of no current chapter"
    for cell in notebooks.get(stem, {}).get("cells", []):
        if cell.get("cell_type") == "markdown":
            for line in _source(cell).splitlines():
                if line.startswith("# "):
                    return f"{int(stem[:2])}. {line[2:].strip()}"
    return stem


def _params_text(record) -> str | None:
    name = record.get("params_set")
    if not name:
        return None
    text = f"`{name}`"
    if record.get("overrides"):
        text += f" + overrides `{json.dumps(record['overrides'], sort_keys=True)}`"
    if record.get("params_hash"):
        text += f" (hash `{record['params_hash'][:12]}`)"
    return text


def _code_link(where: str, commit, repo) -> str:
    """``module:qualname`` as a link to its line in the repository at ``commit``."""
    module, _, qualname = where.partition(":")
    text = f"`{where}`"
    if not (repo and commit and module.startswith("mftransformer")):
        return text
    path = "src/" + module.replace(".", "/") + ".py"
    line = _def_line(commit, path, qualname.split(".")[-1])
    anchor = f"#L{line}" if line else ""
    return f"[{text}]({repo}/blob/{commit}/{path}{anchor})"


def _def_line(commit, path, name) -> int | None:
    text = git("show", f"{commit}:{path}")
    if text is None:
        return None
    for number, line in enumerate(text.splitlines(), 1):
        if re.match(rf"\s*def {re.escape(name)}\(", line):
            return number
    return None


def _commit_year(commit) -> str | None:
    text = git("show", "-s", "--format=%cs", commit) if commit else None
    return text[:4] if text else None


def _bib_author(author: dict) -> str:
    if "name" in author:
        return "{" + _bib_text(author["name"]) + "}"
    family = " ".join(p for p in (author.get("name-particle"), author.get("family-names")) if p)
    return _bib_text(f"{family}, {author.get('given-names', '')}".strip(", "))


def _bib_text(text: str) -> str:
    return str(text).replace("{", "").replace("}", "").replace("%", r"\%").replace("&", r"\&")


def _join(names) -> str:
    names = [n for n in names if n]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _alt(text: str) -> str:
    return re.sub(r"[\[\]\n]", " ", text)[:200]


def _cell(text) -> str:
    return str(text).replace("|", r"\|").replace("\n", " ")

"""The Figures page: every figure with its caption, files, provenance, BibTeX and the command
that reproduces it.

It reads what the executed chapters left behind, and nothing else: ``_static/figures/<id>.json``
(the provenance of each figure, :func:`mftransformer.save_figure`), each chapter's figure
captions and positions (the cells' ``mystnb.figure`` metadata of ``chapters/<stem>.ipynb``),
``CITATION.cff`` (next to ``book/``) and ``_config.yml`` (where the code lives). The same inputs
give the same bytes (no dates; sorted). :func:`mftransformer.companion.pages.write_pages` writes
it with the other generated pages.
"""

import dataclasses
import json
import re
from pathlib import Path

import yaml

from . import environment
from .bibtex import bibtex_entry
from .figures import EXTENSIONS, FIGURE_ID
from .files import git
from .params import CHAPTERS
from .status import chapter_title

__all__ = [
    "figures_page",
    "read_figures",
    "read_notebooks",
    "bibtex_entry",
    "FigureEntry",
    "missing_files",
    "read_yaml",
    "figure_numbers",
    "first_sentence",
    "panel_label",
    "public_caption",
]

_LABELS = {
    "pdf": "PDF",
    "svg": "SVG",
    "png": "PNG",
    "npz": "data (NPZ)",
    "csv": "data (CSV)",
    "json": "provenance (JSON)",
}


@dataclasses.dataclass(frozen=True)
class FigureEntry:
    """One figure: its id, chapter, caption (from the notebook) and provenance (from its JSON)."""

    fig_id: str
    stem: str | None
    caption: str | None
    record: dict | None
    alt: str | None = None


def read_figures(book_dir: Path, notebooks: dict | None = None) -> list[FigureEntry]:
    """Every figure named in an executed chapter or saved under ``_static/figures``, in book
    order (chapter, then position in the chapter; figures no chapter shows come last)."""
    notebooks = read_notebooks(book_dir) if notebooks is None else notebooks
    shown = {}  # fig_id -> (stem, position, caption)
    alts = {}
    for stem, nb in notebooks.items():
        for position, cell in enumerate(nb.get("cells", [])):
            mystnb = cell.get("metadata", {}).get("mystnb", {})
            figure = mystnb.get("figure", {})
            if isinstance(figure, dict) and figure.get("name"):
                caption = figure.get("caption")
                shown[figure["name"]] = (stem, position, caption.strip() if caption else caption)
                alts[figure["name"]] = (mystnb.get("image") or {}).get("alt")
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
        stem = stem or (record or {}).get("notebook")
        entries.append(FigureEntry(fig_id, stem, caption, record, alts.get(fig_id)))
    return entries


def panel_label(fig_id: str) -> str:
    """The label of a figure's panel on the Figures page (each chapter caption links to it)."""
    return f"files-{fig_id}"


_PANEL_LINK = re.compile(r"\s*\{ref\}`[^`<]*<files-[^>]+>`\.?\s*$")


def public_caption(caption: str | None) -> str | None:
    """A chapter caption without its closing link to the figure's own panel."""
    return None if caption is None else _PANEL_LINK.sub("", caption).strip()


def first_sentence(text: str | None) -> str:
    """The first sentence of a caption (up to the first full stop outside math)."""
    text = public_caption(text) or ""
    depth = 0
    for i, ch in enumerate(text):
        if ch == "$":
            depth ^= 1
        elif ch == "." and not depth and (i + 1 == len(text) or text[i + 1] == " "):
            return text[: i + 1]
    return text


def figure_numbers(figures) -> dict:
    """``{fig_id: "k.i"}``: the figure's number as its chapter shows it (chapter, position)."""
    out, counts = {}, {}
    for entry in figures:
        if entry.caption is None or entry.stem not in CHAPTERS.values():
            continue
        k = list(CHAPTERS.values()).index(entry.stem) + 1
        counts[k] = counts.get(k, 0) + 1
        out[entry.fig_id] = f"{k}.{counts[k]}"
    return out


def figures_page(figures, notebooks, config, cff, book_dir) -> str:
    """The Figures page (MyST) for ``figures`` (from :func:`read_figures`)."""
    repo = (config.get("repository") or {}).get("url", "").rstrip("/")
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
    numbers = figure_numbers(figures)
    lines += _thumbnail_grid(figures, numbers, book_dir)
    current = object()
    for entry in figures:
        if entry.stem != current:
            current = entry.stem
            lines += [f"## {chapter_title(entry.stem, notebooks)}", ""]
        lines += _figure_block(entry, notebooks, repo, cff, book_dir, numbers.get(entry.fig_id))
    return "\n".join(lines).rstrip() + "\n"


def _thumbnail_grid(figures, numbers, book_dir) -> list[str]:
    """All figures at a glance: a card per figure (number, id, first sentence of its caption),
    linking to its panel below."""
    folder = Path(book_dir) / "_static" / "figures"
    cards = [e for e in figures if (folder / f"{e.fig_id}.png").exists()]
    if not cards:
        return []
    lines = ["::::{grid} 2 3 4 4", ":gutter: 2", ":class-container: mft-figure-grid", ""]
    for entry in cards:
        number = numbers.get(entry.fig_id)
        title = f"Fig. {number} · {entry.fig_id}" if number else entry.fig_id
        lines += [
            f":::{{grid-item-card}} {title}",
            f":img-top: ../_static/figures/{entry.fig_id}.png",
            f":img-alt: {_alt(entry.alt or first_sentence(entry.caption) or entry.fig_id)}",
            f":link: {panel_label(entry.fig_id)}",
            ":link-type: ref",
            ":class-card: mft-figure-card",
            "",
            _alt(first_sentence(entry.caption)) or "(not shown in a chapter of this build)",
            ":::",
            "",
        ]
    return [*lines, "::::", ""]


def _figure_block(entry, notebooks, repo, cff, book_dir, number=None) -> list[str]:
    fig_id, record = entry.fig_id, entry.record or {}
    title = f"Fig. {number} · {fig_id}" if number else fig_id
    lines = [f"({panel_label(fig_id)})=", f"### {title}", ""]
    folder = book_dir / "_static" / "figures"
    if (folder / f"{fig_id}.png").exists():
        alt = _alt(entry.alt or first_sentence(entry.caption) or fig_id)
        lines += [f"![{alt}](../_static/figures/{fig_id}.png)", ""]
    if entry.caption:
        lines += [f"**Caption.** {public_caption(entry.caption)}", ""]
    if entry.stem in notebooks and entry.caption is not None:
        lines += [f"Shown in {{ref}}`{chapter_title(entry.stem, notebooks)} <{fig_id}>`.", ""]
    if not entry.record:
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
    lines += [
        "Reproduce this figure from its provenance file alone (same commit and versions):",
        "",
        "```bash",
        f"python -m mftransformer reproduce book/_static/figures/{fig_id}.json",
        "```",
        "",
    ]
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
            url=_release_url(fig_id, book_dir),
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


# ---------------------------------------------------------------- private
def missing_files(figures, notebooks, book_dir: Path) -> list[str]:
    """``"<id> (shown in chapters/<stem>.ipynb; missing .png, ...)"`` for every figure that an
    executed chapter shows but whose files are not all in ``_static/figures``."""
    folder = Path(book_dir) / "_static" / "figures"
    out = []
    for entry in figures:
        if entry.stem in notebooks and entry.caption is not None:
            missing = [e for e in EXTENSIONS if not (folder / f"{entry.fig_id}.{e}").exists()]
            if missing:
                where = f"chapters/{entry.stem}.ipynb"
                out.append(f"{entry.fig_id} (shown in {where}; missing .{', .'.join(missing)})")
    return out


def _release_url(fig_id: str, book_dir: Path) -> str | None:
    try:
        return environment.release_asset_url(fig_id, "pdf", root=Path(book_dir).parent)
    except (OSError, KeyError, TypeError, ValueError):
        return None


def read_notebooks(book_dir: Path) -> dict:
    """``{stem: notebook JSON}`` of the executed chapters under ``book_dir``."""
    out = {}
    for stem in CHAPTERS.values():
        path = Path(book_dir) / "chapters" / f"{stem}.ipynb"
        if path.exists():
            out[stem] = json.loads(path.read_text(encoding="utf-8"))
    return out


def read_yaml(path: Path) -> dict:
    """A YAML file as a dict (empty when the file is absent)."""
    return (yaml.safe_load(path.read_text(encoding="utf-8")) or {}) if path.exists() else {}


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


def _alt(text: str) -> str:
    return re.sub(r"[\[\]\n]", " ", text)[:300]


def _cell(text) -> str:
    return str(text).replace("|", r"\|").replace("\n", " ")

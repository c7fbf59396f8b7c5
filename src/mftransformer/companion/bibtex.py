"""A "cite this figure" BibTeX entry, from ``CITATION.cff`` and the figure's provenance."""

__all__ = ["bibtex_entry"]


def bibtex_entry(
    fig_id: str,
    cff: dict,
    *,
    commit: str | None,
    year: str | None,
    url: str | None,
    params: str | None,
) -> str:
    """A "cite this figure" BibTeX entry from ``CITATION.cff`` and the figure id.

    The entry cites the companion (its authors, title and version from ``CITATION.cff``) at the
    figure, with ``url`` (the figure's PDF attached to the release of this version, an address
    that no deploy overwrites), the commit and the parameter set; a note names the paper (the
    preferred citation).
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
    if url:
        fields.append(("url", url))
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

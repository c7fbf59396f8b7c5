"""The files a release attaches (.github/workflows/release.yml), from a built book.

    python .github/scripts/release_assets.py --version 0.1.0 --book book --out dist

writes into ``dist/``:

- ``mftransformer-v<version>-<page>.zip`` per chapter (``<page>`` as in book/chapters/<page>.ipynb):
  ``figures/`` (every format: PDF, SVG, PNG), ``data/`` (the data behind each figure),
  ``provenance/`` (each figure's JSON), the executed notebook ``<page>.ipynb``, a ``README.txt``
  (version, licences) and ``SHA256SUMS`` over all of them;
- every figure file on its own, ``<fig_id>.<ext>``, so that a citation can name the stable address
  ``<repository>/releases/download/v<version>/<fig_id>.<ext>``
  (mftransformer.companion.environment.release_asset_url);
- ``mftransformer-v<version>-site.tar.gz``: the HTML site (book/_build/html);
- ``SHA256SUMS.txt`` over every file above.

Archives are byte-reproducible (sorted entries, fixed timestamps). Standard library only; exits
non-zero with one line when a figure file named in a provenance file, or a chapter's executed
notebook, is missing.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import shutil
import sys
import tarfile
import zipfile
from pathlib import Path

FIGURE_FORMATS = ("pdf", "svg", "png")
DATA_FORMATS = ("npz", "csv")
EPOCH = (1980, 1, 1, 0, 0, 0)
LICENCE = (
    "Code: MIT (LICENSE). Figures, data and text: Creative Commons Attribution 4.0 International "
    "(CC BY 4.0, https://creativecommons.org/licenses/by/4.0/).\n"
)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _folder(ext: str) -> str:
    if ext in FIGURE_FORMATS:
        return "figures"
    if ext in DATA_FORMATS:
        return "data"
    if ext == "json":
        return "provenance"
    raise SystemExit(f"release_assets: unexpected figure file type .{ext}")


def chapters(figures: Path) -> dict[str, list[dict]]:
    """page -> provenance records of its figures, in figure-id order."""
    out: dict[str, list[dict]] = {}
    for path in sorted(figures.glob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(record, dict) or "figure_id" not in record:
            continue  # not a provenance file (an index, say)
        page = record.get("notebook") or f"chapter-{int(record['chapter_number']):02d}"
        out.setdefault(page, []).append(record)
    return out


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(members):
            info = zipfile.ZipInfo(name, date_time=EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, members[name])
    return buf.getvalue()


def _tar_gz(folder: Path, root: str) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            data = path.read_bytes()
            info = tarfile.TarInfo(f"{root}/{path.relative_to(folder).as_posix()}")
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, filename="") as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def build(version: str, book: Path, out: Path) -> list[Path]:
    figures = book / "_static" / "figures"
    html = book / "_build" / "html"
    by_page = chapters(figures)
    if not by_page:
        raise SystemExit(f"release_assets: no provenance files in {figures} (run `make book`)")
    if not (html / "index.html").is_file():
        raise SystemExit(f"release_assets: no site in {html} (run `make book`)")
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    prefix = f"mftransformer-v{version}"
    for page, records in sorted(by_page.items()):
        notebook = book / "chapters" / f"{page}.ipynb"
        if not notebook.is_file():
            raise SystemExit(f"release_assets: {notebook} is missing (the executed chapter)")
        members = {f"{page}/{page}.ipynb": notebook.read_bytes()}
        for record in records:
            fig_id = record["figure_id"]
            names = record.get("files") or [
                f"{fig_id}.{e}" for e in (*FIGURE_FORMATS, "npz", "json")
            ]
            for name in names:
                path = figures / name
                if not path.is_file():
                    raise SystemExit(f"release_assets: {path} is missing (named by {fig_id}.json)")
                data = path.read_bytes()
                members[f"{page}/{_folder(name.rsplit('.', 1)[1])}/{name}"] = data
                (out / name).write_bytes(data)
                written.append(out / name)
        members[f"{page}/README.txt"] = (
            f"{page}: figures, data, provenance and the executed notebook of mftransformer "
            f"v{version} (parameter set of each figure: see its provenance file).\n{LICENCE}"
        ).encode()
        sums = "".join(f"{sha256(d)}  {n.split('/', 1)[1]}\n" for n, d in sorted(members.items()))
        members[f"{page}/SHA256SUMS"] = sums.encode()
        bundle = out / f"{prefix}-{page}.zip"
        bundle.write_bytes(_zip(members))
        written.append(bundle)
    site = out / f"{prefix}-site.tar.gz"
    site.write_bytes(_tar_gz(html, f"{prefix}-site"))
    written.append(site)
    listing = "".join(f"{sha256(p.read_bytes())}  {p.name}\n" for p in sorted(set(written)))
    (out / "SHA256SUMS.txt").write_text(listing)
    written.append(out / "SHA256SUMS.txt")
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", required=True, help="the package version (no leading v)")
    parser.add_argument("--book", type=Path, default=Path("book"))
    parser.add_argument("--out", type=Path, default=Path("dist"))
    args = parser.parse_args(argv)
    if args.version.startswith("v"):
        parser.error("--version without the leading v")
    if args.out.exists():
        shutil.rmtree(args.out)
    files = build(args.version, args.book, args.out)
    print(f"{len(files)} files in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

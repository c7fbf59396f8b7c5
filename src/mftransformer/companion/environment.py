"""The environment a figure was made in, and where its durable copy lives.

- :func:`lock_hash`: SHA-256 of the committed lock file (``requirements-test.txt``, the set that
  ``make`` and CI install), for each figure's provenance.
- :func:`version`: the package version, set in one place (``pyproject.toml``), read back through
  the installed metadata.
- :func:`release_asset_url`: the address of a figure file in the release of that version (the
  per-chapter bundle files are also attached one by one), which a citation can point at durably:
  ``<repository>/releases/download/v<version>/<fig_id>.<ext>``.
- :data:`LICENCE_FIGURES`: the licence of the figures and text, as recorded in provenance.
"""

from __future__ import annotations

import hashlib
import re
from importlib import metadata
from pathlib import Path

__all__ = [
    "LICENCE_CODE",
    "LICENCE_FIGURES",
    "LICENCE_FIGURES_URL",
    "LOCK_FILE",
    "lock_hash",
    "release_asset_url",
    "repository_url",
    "version",
]

LOCK_FILE = "requirements-test.txt"
LICENCE_CODE = "MIT"
LICENCE_FIGURES = "CC-BY-4.0"
LICENCE_FIGURES_URL = "https://creativecommons.org/licenses/by/4.0/"

_FIG_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_EXTS = {"pdf", "svg", "png", "npz", "csv", "json"}


def _checkout(start: Path | None = None) -> Path | None:
    """The repository root: the first folder holding ``pyproject.toml`` and ``book/_config.yml``,
    above the working directory, then above this file; ``None`` when installed without one."""
    bases = []
    for origin in [start or Path.cwd(), Path(__file__).resolve()]:
        bases += [origin, *origin.parents]
    for base in bases:
        if (base / "pyproject.toml").is_file() and (base / "book" / "_config.yml").is_file():
            return base
    return None


def lock_hash(root: Path | None = None) -> str | None:
    """SHA-256 (hex) of the committed lock file, or ``None`` when there is no checkout (a plain
    ``pip install``, Colab from a wheel). The file's bytes, as committed: CRLF is not normalised."""
    base = Path(root) if root is not None else _checkout()
    if base is None or not (base / LOCK_FILE).is_file():
        return None
    return hashlib.sha256((base / LOCK_FILE).read_bytes()).hexdigest()


def version() -> str:
    """The package version (``pyproject.toml``'s ``version``, via the installed metadata)."""
    try:
        return metadata.version("mftransformer")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        import tomllib

        base = _checkout()
        if base is None:
            raise
        return tomllib.loads((base / "pyproject.toml").read_text())["project"]["version"]


def repository_url(root: Path | None = None) -> str:
    """``repository.url`` of ``book/_config.yml`` (the one place the repository is named)."""
    import yaml

    base = Path(root) if root is not None else _checkout()
    if base is None:
        raise FileNotFoundError("no checkout found: book/_config.yml names the repository")
    config = yaml.safe_load((base / "book" / "_config.yml").read_text(encoding="utf-8"))
    return str(config["repository"]["url"]).rstrip("/")


def release_asset_url(fig_id: str, ext: str, *, ver: str | None = None, root=None) -> str:
    """Address of ``<fig_id>.<ext>`` attached to the release ``v<version>``:
    ``<repository.url>/releases/download/v<version>/<fig_id>.<ext>``.

    The release workflow (.github/workflows/release.yml) attaches every figure file under this
    name, next to the per-chapter bundles, so the address never moves once the tag exists.
    """
    if not isinstance(fig_id, str) or not _FIG_ID.match(fig_id):
        raise ValueError(f"release_asset_url: not a figure id: {fig_id!r}")
    ext = ext.lstrip(".").lower()
    if ext not in _EXTS:
        raise ValueError(f"release_asset_url: extension {ext!r} is not one of {sorted(_EXTS)}")
    tag = "v" + (ver or version())
    return f"{repository_url(root)}/releases/download/{tag}/{fig_id}.{ext}"

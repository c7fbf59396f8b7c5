"""The results cache: an executed chapter is stored under the hash of everything it depends on.

A chapter is a function of (its source notebook, its resolved parameters, the package, the
numerical libraries, the precision), so an entry's key is the SHA-256 of

- the chapter source ``notebooks/<stem>.md``;
- the parameter set's name, the overrides and the resolved parameters (``Config.as_dict``);
- every source file of the package (``src/mftransformer/**/*.py``): every chapter imports
  ``mftransformer``, which imports the whole solver, so a change of any module re-runs every
  chapter (never a stale figure; myst-nb's own cache does not watch imported files);
- the versions of Python and of the numerical libraries, and the precision (float64: every
  chapter calls ``mft.configure()``) and the JAX platform.

An entry is a folder ``book/_build/cache/chapters/<key>/`` holding the executed notebook, the
chapter's figure files, its checks and a ``manifest.json`` with the SHA-256 of every file. It is
built in a temporary folder and renamed into place (atomic); a corrupt entry (a file missing or
changed) is discarded with a warning and the chapter re-runs. A cache folder that cannot be read
or written (read-only, disk full) gives a warning and an uncached run, never a failed build.
"""

import dataclasses
import hashlib
import json
import os
import platform
import shutil
import tempfile
import warnings
from importlib import metadata
from pathlib import Path

from .files import atomic_write

__all__ = [
    "CacheWarning",
    "Entry",
    "chapter_key",
    "lookup",
    "store",
    "cache_dir",
    "environment_parts",
    "NUMERICAL_PACKAGES",
]

#: Packages whose version can change a chapter's numbers or figures.
NUMERICAL_PACKAGES = (
    "jax",
    "jaxlib",
    "numpy",
    "diffrax",
    "equinox",
    "lineax",
    "matplotlib",
)
MANIFEST = "manifest.json"


class CacheWarning(UserWarning):
    """A cache entry or folder that could not be used; the chapter runs uncached."""


@dataclasses.dataclass(frozen=True)
class Entry:
    """A verified cache entry: its files (``{relative name: path}``) and the ``info`` stored."""

    files: dict
    info: dict


def cache_dir(root: Path) -> Path:
    """``book/_build/cache/chapters`` of the checkout ``root`` (ignored by git)."""
    return Path(root) / "book" / "_build" / "cache" / "chapters"


def package_sources(root: Path | None = None) -> dict[str, str]:
    """``{relative path: sha256}`` of every ``.py`` file of the package: under ``root/src`` when
    ``root`` is given (a checkout), else the imported package's own files."""
    base = Path(root) / "src" / "mftransformer" if root else Path(__file__).resolve().parents[1]
    return {
        str(path.relative_to(base)): _sha256(path.read_bytes())
        for path in sorted(base.rglob("*.py"))
        if "__pycache__" not in path.parts
    }


def environment_parts(root: Path | None = None) -> dict:
    """What every result depends on besides its own inputs: the package's sources, the versions
    of Python and of the numerical libraries, the precision and the JAX platform."""
    import jax

    versions = {"python": platform.python_version()}
    for name in NUMERICAL_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "package": package_sources(root),
        "versions": versions,
        "precision": "float64" if jax.config.jax_enable_x64 else "float32",
        "platform": jax.default_backend(),
    }


def key_parts(root: Path, config, source: Path) -> dict:
    """What a chapter's result depends on (the data behind :func:`chapter_key`): its source,
    its parameters and :func:`environment_parts` (float64: every chapter calls
    ``mft.configure()``, as the pipeline's own process does)."""
    return {
        "chapter": config.chapter,
        "source_sha256": _sha256(Path(source).read_bytes()),
        "params_set": config.params_set,
        "overrides": config.overrides,
        "params": config.as_dict(),
        **environment_parts(root),
    }


def chapter_key(root: Path, config, source: Path) -> str:
    """The SHA-256 key of a chapter's cache entry (see the module docstring)."""
    parts = key_parts(root, config, source)
    return _sha256(json.dumps(parts, sort_keys=True, default=str).encode())


def lookup(root: Path, key: str) -> Entry | None:
    """The entry ``key`` with every file's checksum verified, or ``None`` when there is none or
    it is corrupt (then it is removed, with a :class:`CacheWarning`)."""
    entry = cache_dir(root) / key
    try:
        if not entry.is_dir():
            return None
        manifest = json.loads((entry / MANIFEST).read_text())
        files = {}
        for name, digest in manifest["files"].items():
            path = entry / name
            if _sha256(path.read_bytes()) != digest:
                raise ValueError(f"checksum mismatch for {name}")
            files[name] = path
        return Entry(files, manifest["info"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        warnings.warn(
            f"cache: entry {key[:12]} is corrupt ({exc}); discarded, the chapter re-runs.",
            CacheWarning,
            stacklevel=2,
        )
        shutil.rmtree(entry, ignore_errors=True)
        return None


def store(root: Path, key: str, files: dict[str, Path], info: dict) -> Path | None:
    """Store ``files`` (``{relative name: source path}``) as the entry ``key``, atomically.

    Returns the entry's folder, or ``None`` (with a :class:`CacheWarning`) when the cache folder
    cannot be written.
    """
    folder = cache_dir(root)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=folder, prefix=f".{key[:12]}.", suffix=".tmp"))
        try:
            digests = {}
            for name, src in sorted(files.items()):
                dst = tmp / name
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dst)
                digests[name] = _sha256(dst.read_bytes())
            manifest = {"key": key, "files": digests, "info": info}
            atomic_write(tmp / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
            final = folder / key
            if final.exists():  # another run stored the same key: keep that one
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                os.replace(tmp, final)
            return final
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    except OSError as exc:
        warnings.warn(
            f"cache: cannot write to {folder} ({exc}); the result is not cached.",
            CacheWarning,
            stacklevel=2,
        )
        return None


def _sha256(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()

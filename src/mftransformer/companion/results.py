"""The experiment-results store: one experiment's result under the hash of its inputs.

Inside a chapter, an experiment ``fn(p, *, key)`` is a pure function of its parameter section
``p``, its random key and the code, so its result is stored under the SHA-256 of

- the experiment (``module:qualname``) and its parameter section (as canonical JSON);
- the random key's data (``jax.random.key_data``);
- every source file of the package, the numerical libraries' versions and the precision
  (:func:`mftransformer.companion.cache.environment_parts`), but not the JAX platform:
  a sweep computed on a cluster's GPUs is picked up by the book built on a laptop.

A chapter whose page changed but whose experiments did not re-runs in the time of its plotting;
a sweep over seeds or sizes stores one entry per task, so a killed job loses only itself.

The store is on when ``$MFT_RESULTS_DIR`` names a folder (the pipeline sets
``book/_build/cache/results``; ``--force`` and CI leave it off). An entry is ``<key>.pkl`` (the
result, pickled), ``<key>.sha256`` (its checksum) and ``<key>.json`` (its :func:`structure`: the
result's type and the shape and dtype of every array in it), each written atomically. An entry
whose checksum does not match, which cannot be read, which is not of the experiment's declared
result type, or whose arrays' shapes differ from its manifest is discarded with a warning and
recomputed.
"""

import dataclasses
import hashlib
import json
import os
import pickle
import sys
import typing
import warnings
from pathlib import Path

from .cache import CacheWarning, environment_parts
from .files import atomic_write

__all__ = [
    "ENV",
    "result_key",
    "load",
    "save",
    "cached_call",
    "store_dir",
    "structure",
    "declared_type",
]

#: The environment variable that turns the store on and names its folder.
ENV = "MFT_RESULTS_DIR"


def store_dir() -> Path | None:
    """The store's folder, or ``None`` when the store is off."""
    value = os.environ.get(ENV)
    return Path(value) if value else None


def result_key(fn, p, key) -> str:
    """The SHA-256 key of ``fn(p, key=key)`` (see the module docstring)."""
    import jax

    parts = {
        "experiment": f"{fn.__module__}:{fn.__qualname__}",
        "params": dataclasses.asdict(p) if dataclasses.is_dataclass(p) else p,
        "key": jax.random.key_data(key).tolist(),
        # not the platform: a result computed on a GPU (a cluster sweep) is the same float64
        # result, to round-off, and the book on a laptop must pick it up
        "environment": {k: v for k, v in environment_parts().items() if k != "platform"},
    }
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()


def structure(result, depth: int = 4):
    """The type of ``result`` and, recursively through dataclass fields, dicts, lists and tuples,
    ``[shape, dtype]`` of every array in it: ``{"type": "module:qualname", "arrays": {path: ...}}``.
    """
    arrays: dict = {}

    def walk(obj, path, level):
        if hasattr(obj, "shape") and hasattr(obj, "dtype"):
            arrays[path] = [list(obj.shape), str(obj.dtype)]
        elif level < depth and dataclasses.is_dataclass(obj):
            for f in dataclasses.fields(obj):
                walk(getattr(obj, f.name), f"{path}.{f.name}", level + 1)
        elif level < depth and isinstance(obj, dict):
            for k, v in obj.items():
                walk(v, f"{path}[{k!r}]", level + 1)
        elif level < depth and isinstance(obj, list | tuple):
            for i, v in enumerate(obj):
                walk(v, f"{path}[{i}]", level + 1)

    walk(result, "", 0)
    kind = type(result)
    return {"type": f"{kind.__module__}:{kind.__qualname__}", "arrays": arrays}


def declared_type(fn):
    """The result type ``fn`` declares (``-> DepthResult``), found through its module and qualified
    name (the experiment the store's callers name); ``None`` when it declares none."""
    obj = sys.modules.get(getattr(fn, "__module__", ""), None)
    for part in getattr(fn, "__qualname__", "").split("."):
        obj = getattr(obj, part, None)
    try:
        kind = typing.get_type_hints(obj).get("return") if obj is not None else None
    except Exception:  # unresolvable annotations: no type to check against
        return None
    return kind if isinstance(kind, type) else None


def load(folder: Path, key: str, expect: type | None = None):
    """The stored result of ``key``, or ``None`` (none stored, or unusable: then discarded).

    Unusable: unreadable, a checksum mismatch, not an instance of ``expect`` (when given), or its
    arrays' shapes or dtypes differ from the entry's manifest (``<key>.json``)."""
    data, digest = folder / f"{key}.pkl", folder / f"{key}.sha256"
    manifest = folder / f"{key}.json"
    if not data.exists():
        return None
    try:
        blob = data.read_bytes()
        if hashlib.sha256(blob).hexdigest() != digest.read_text().strip():
            raise ValueError("checksum mismatch")
        result = pickle.loads(blob)
        _check_structure(result, expect, manifest)
        return result
    except (OSError, ValueError, pickle.UnpicklingError, EOFError, AttributeError) as exc:
        warnings.warn(
            f"results: entry {key[:12]} is unusable ({exc}); discarded, recomputing.",
            CacheWarning,
            stacklevel=2,
        )
        for path in (data, digest, manifest):
            path.unlink(missing_ok=True)
        return None


def _check_structure(result, expect, manifest: Path) -> None:
    if expect is not None and not isinstance(result, expect):
        raise ValueError(f"a {type(result).__name__} where a {expect.__name__} is expected")
    if manifest.exists():
        recorded, found = json.loads(manifest.read_text()), structure(result)
        if recorded != found:
            paths = sorted(set(recorded.get("arrays", {})) ^ set(found["arrays"])) or [
                p
                for p in found["arrays"]
                if recorded.get("arrays", {}).get(p) != found["arrays"][p]
            ]
            where = paths[0] if paths else "type"
            raise ValueError(
                f"type or shapes differ from its manifest (first at {where or 'root'})"
            )


def save(folder: Path, key: str, result) -> bool:
    """Store ``result`` under ``key``; ``False`` (with a warning) when the folder is unwritable."""
    blob = pickle.dumps(result, protocol=5)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write(folder / f"{key}.pkl", blob)
        atomic_write(folder / f"{key}.json", json.dumps(structure(result), sort_keys=True) + "\n")
        atomic_write(folder / f"{key}.sha256", hashlib.sha256(blob).hexdigest() + "\n")
        return True
    except OSError as exc:
        warnings.warn(
            f"results: cannot write to {folder} ({exc}); not stored.", CacheWarning, stacklevel=2
        )
        return False


def cached_call(fn, p, *, key):
    """``fn(p, key=key)``, taken from the store when it holds the result (store on only while
    ``$MFT_RESULTS_DIR`` is set)."""
    folder = store_dir()
    if folder is None:
        return fn(p, key=key)
    digest = result_key(fn, p, key)
    found = load(folder, digest, declared_type(fn))
    if found is not None:
        return found
    result = fn(p, key=key)
    save(folder, digest, result)
    return result

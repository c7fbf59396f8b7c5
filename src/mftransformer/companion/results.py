"""The experiment-results store: one experiment's result under the hash of its inputs.

Inside a chapter, an experiment ``fn(p, *, key)`` is a pure function of its parameter section
``p``, its random key and the code, so its result is stored under the SHA-256 of

- the experiment (``module:qualname``) and its parameter section (as canonical JSON);
- the random key's data (``jax.random.key_data``);
- every source file of the package, the numerical libraries' versions, the precision and the
  JAX platform (:func:`mftransformer.companion.cache.environment_parts`).

A chapter whose page changed but whose experiments did not re-runs in the time of its plotting;
a sweep over seeds or sizes stores one entry per task, so a killed job loses only itself.

The store is on when ``$MFT_RESULTS_DIR`` names a folder (the pipeline sets
``book/_build/cache/results``; ``--force`` and CI leave it off). An entry is ``<key>.pkl`` (the
result, pickled) and ``<key>.sha256`` (its checksum), each written atomically; an entry whose
checksum does not match, or which cannot be read, is discarded with a warning and recomputed.
"""

import dataclasses
import hashlib
import json
import os
import pickle
import warnings
from pathlib import Path

from .cache import CacheWarning, environment_parts
from .files import atomic_write

__all__ = ["ENV", "result_key", "load", "save", "cached_call", "store_dir"]

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
        "environment": environment_parts(),
    }
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()


def load(folder: Path, key: str):
    """The stored result of ``key``, or ``None`` (none stored, or corrupt: then discarded)."""
    data, digest = folder / f"{key}.pkl", folder / f"{key}.sha256"
    if not data.exists():
        return None
    try:
        blob = data.read_bytes()
        if hashlib.sha256(blob).hexdigest() != digest.read_text().strip():
            raise ValueError("checksum mismatch")
        return pickle.loads(blob)
    except (OSError, ValueError, pickle.UnpicklingError, EOFError, AttributeError) as exc:
        warnings.warn(
            f"results: entry {key[:12]} is unusable ({exc}); discarded, recomputing.",
            CacheWarning,
            stacklevel=2,
        )
        data.unlink(missing_ok=True)
        digest.unlink(missing_ok=True)
        return None


def save(folder: Path, key: str, result) -> bool:
    """Store ``result`` under ``key``; ``False`` (with a warning) when the folder is unwritable."""
    blob = pickle.dumps(result, protocol=5)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write(folder / f"{key}.pkl", blob)
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
    found = load(folder, digest)
    if found is not None:
        return found
    result = fn(p, key=key)
    save(folder, digest, result)
    return result

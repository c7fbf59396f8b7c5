"""The experiment-results store: a second call with the same inputs computes nothing, any change
of the inputs computes again, a corrupt entry is recomputed with a warning, and the store is off
unless ``$MFT_RESULTS_DIR`` is set."""

import dataclasses

import jax
import numpy as np
import pytest

from mftransformer.companion import results
from mftransformer.companion.cache import CacheWarning


@dataclasses.dataclass(frozen=True)
class Section:
    n: int
    scale: float


CALLS = []


def experiment(p, *, key):
    CALLS.append(p)
    return {"x": np.asarray(jax.random.normal(key, (p.n,))) * p.scale}


@pytest.fixture
def store(tmp_path, monkeypatch):
    CALLS.clear()
    monkeypatch.setenv(results.ENV, str(tmp_path))
    return tmp_path


def test_same_inputs_compute_once(store):
    key = jax.random.key(0)
    first = results.cached_call(experiment, Section(3, 1.0), key=key)
    again = results.cached_call(experiment, Section(3, 1.0), key=key)
    assert len(CALLS) == 1 and np.array_equal(first["x"], again["x"])


@pytest.mark.parametrize(
    ("section", "seed"), [(Section(3, 2.0), 0), (Section(4, 1.0), 0), (Section(3, 1.0), 1)]
)
def test_another_section_or_key_computes_again(store, section, seed):
    results.cached_call(experiment, Section(3, 1.0), key=jax.random.key(0))
    results.cached_call(experiment, section, key=jax.random.key(seed))
    assert len(CALLS) == 2


def test_a_corrupt_entry_is_recomputed_with_a_warning(store):
    results.cached_call(experiment, Section(3, 1.0), key=jax.random.key(0))
    (entry,) = store.glob("*.pkl")
    entry.write_bytes(entry.read_bytes()[:-3] + b"xyz")
    with pytest.warns(CacheWarning, match="unusable.*checksum mismatch"):
        results.cached_call(experiment, Section(3, 1.0), key=jax.random.key(0))
    assert len(CALLS) == 2


def test_the_store_is_off_without_the_variable(monkeypatch, tmp_path):
    CALLS.clear()
    monkeypatch.delenv(results.ENV, raising=False)
    for _ in range(2):
        results.cached_call(experiment, Section(3, 1.0), key=jax.random.key(0))
    assert len(CALLS) == 2 and not list(tmp_path.iterdir())


def test_the_key_does_not_depend_on_the_platform(monkeypatch):
    """A sweep computed on a cluster's GPUs is picked up by the book built on a CPU."""
    from mftransformer.companion import cache

    before = results.result_key(experiment, Section(3, 1.0), jax.random.key(0))
    real = cache.environment_parts

    def elsewhere(root=None):
        return {**real(root), "platform": "gpu"}

    monkeypatch.setattr(results, "environment_parts", elsewhere)
    assert results.result_key(experiment, Section(3, 1.0), jax.random.key(0)) == before

"""Test configuration: float64 before any array, a deterministic hypothesis profile."""

import mftransformer as mft

mft.configure()

import jax  # noqa: E402
import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

jax.config.update("jax_numpy_rank_promotion", "raise")

settings.register_profile(
    "mft", derandomize=True, database=None, deadline=None, max_examples=30, print_blob=True
)
settings.load_profile("mft")


@pytest.fixture
def without_shape_hints():
    """Turn the test-time jaxtyping checks off, to reach the library's own ParameterError
    (what a user sees: the hints are checked in tests only)."""
    import jaxtyping

    jaxtyping.config.update("jaxtyping_disable", True)
    yield
    jaxtyping.config.update("jaxtyping_disable", False)

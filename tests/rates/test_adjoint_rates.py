"""Orders in depth of the continuous adjoint, through the chapter's own experiment function."""

import jax
import pytest

import mftransformer as mft
from mftransformer.experiments import adjoint as chapter


def ci(section, **overrides):
    """A ``ci`` section of the chapter, with ``overrides`` (validated by its schema)."""
    return getattr(mft.params.load("adjoint", "ci", {section: overrides}), section)


@pytest.mark.slow
def test_continuous_adjoint_orders():
    p = ci("depth", n=4, N=1, M=2, Ls=(8, 16, 32, 64, 128), L_ref=512)
    result = chapter.depth(p, key=jax.random.key(11))
    slopes = result.slopes
    for name, slope in (
        ("continuous_slope_euler", slopes["euler"]),
        ("continuous_slope_heun", slopes["heun"]),
        ("continuous_vs_discrete", slopes["exact"]),
    ):
        assert chapter.CLAIMS[name].check(slope).passed, f"{name}: slopes {slopes}"
    assert result.check.passed, str(result.check)

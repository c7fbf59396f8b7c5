"""Orders of chapter 3 by regression, via the chapter's own experiment functions (MATH.md §4)."""

import jax
import pytest

import mftransformer as mft
from mftransformer.experiments import gradflow as chapter


def ci(section, **overrides):
    """A ``ci`` section of the chapter, with ``overrides`` (validated by its schema)."""
    return getattr(mft.params.load("gradflow", "ci", {section: overrides}), section)


@pytest.mark.slow
def test_energy_orders_in_eta():
    # five halvings of the step: 1 − ρ_0 and the integrated defect are O(η)
    p = ci("energy", n=5, N=4, L=3, M=16)
    result = chapter.energy(p, key=jax.random.key(11))
    for name in ("dissipation_order", "energy_identity"):
        claim = chapter.CLAIMS[name]
        slope = result.check[name].measured
        assert claim.check(slope).passed, f"{name}: slope {slope:.3f}, {claim.check(slope)}"
    # left Riemann and trapezoid defects have opposite signs (MATH.md §4)
    assert (result.defect * result.defect_left < 0).all(), (result.defect, result.defect_left)

"""Orders of chapter 3 by regression, via the chapter's own experiment functions (Model: gradient
flow): each rate passes on the median of independent keys, every key inside its key band."""

import jax
import pytest

import mftransformer as mft
from mftransformer.experiments import gradflow as chapter


def ci(section, **overrides):
    """A ``ci`` section of the chapter, with ``overrides`` (validated by its schema)."""
    return getattr(mft.params.load("gradflow", "ci", {section: overrides}), section)


@pytest.mark.slow
def test_energy_orders_in_eta():
    # five halvings of the step on five keys: 1 − ρ_0 and the integrated defect are O(η)
    p = ci("energy", n=5, N=4, L=3, M=16)
    result = chapter.energy(p, key=jax.random.key(11))
    for i, name in enumerate(("dissipation_order", "energy_identity", "gd_to_flow_order")):
        check = chapter.CLAIMS[name].check_keys(result.slopes[:, i])
        assert check.passed, str(check)
    # left Riemann and trapezoid defects have opposite signs (first key)
    assert (result.defect * result.defect_left < 0).all(), (result.defect, result.defect_left)


@pytest.mark.slow
def test_meanfield_rates_in_width():
    # the spread over seeds and the distance to the tracers both fall like M^{-1/2}; independent
    # samples do not
    p = ci("meanfield")  # the ci sizes: smaller ones are not yet in the M^{-1/2} regime
    result = chapter.meanfield(p, key=jax.random.key(12))
    for name in ("meanfield_spread", "meanfield_coupling", "meanfield_independent"):
        assert result.check[name].passed, str(result.check[name])


@pytest.mark.slow
def test_depth_order_on_every_key():
    p = ci("depth")  # smaller sizes (n = 4, M = 4, L <= 32) give per-key slopes -0.3 … -1.5
    result = chapter.depth(p, key=jax.random.key(13))
    assert result.check.passed, str(result.check)

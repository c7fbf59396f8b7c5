"""Orders in depth of the continuous adjoint and of the first variation, on independent keys,
through the chapter's own experiment functions (median in the band, every key in its key band)."""

import jax
import pytest

import mftransformer as mft
from mftransformer.experiments import adjoint as chapter


def ci(section, **overrides):
    """A ``ci`` section of the chapter, with ``overrides`` (validated by its schema)."""
    return getattr(mft.params.load("adjoint", "ci", {section: overrides}), section)


@pytest.mark.slow
def test_continuous_adjoint_orders():
    p = ci("depth", n=4, N=1, M=2, Ls=(8, 16, 32, 64, 128), L_ref=512, keys=5)
    result = chapter.depth(p, key=jax.random.key(11))
    for name, kind in (
        ("continuous_slope_euler", "euler"),
        ("continuous_slope_heun", "heun"),
        ("continuous_vs_discrete", "exact"),
    ):
        slopes = result.data[f"slopes_{kind}"]
        assert slopes.shape == (5,)
        assert chapter.CLAIMS[name].check_keys(slopes).passed, f"{name}: slopes {slopes}"
    assert result.check.passed, str(result.check)


@pytest.mark.slow
def test_first_variation_depth_order_and_probe_identity():
    # the ci depths: from L = 8 the successive differences are still pre-asymptotic (orders
    # 0.78-1.17 over five keys), which is why the chapter starts at L = 16
    p = ci("probe", keys=5)
    result = chapter.probe(p, key=jax.random.key(12))
    claim = chapter.CLAIMS["probe_depth_order"]
    assert claim.check_keys(result.orders).passed, f"orders {result.orders}"
    assert chapter.CLAIMS["probe_identity"].check_keys(result.identity).passed, result.identity
    assert result.check.passed, str(result.check)


@pytest.mark.slow
def test_interaction_needed_on_every_key():
    p = ci("interaction", keys=5)
    result = chapter.interaction(p, key=jax.random.key(13))
    values = result.errors["T+C", "both"]
    assert chapter.CLAIMS["interaction_needed"].check_keys(values).passed, values


@pytest.mark.slow
def test_fd_order_on_every_key():
    p = ci("agreement", keys=5)
    result = chapter.agreement(p, key=jax.random.key(14))
    assert chapter.CLAIMS["fd_order"].check_keys(result.fd_ratio).passed, result.fd_ratio

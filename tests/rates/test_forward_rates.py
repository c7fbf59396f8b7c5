"""Chapter 1 rates at small size, through the chapter's own experiment functions, each rate
checked the robust way (:meth:`~mftransformer.experiments.checks.Claim.check_keys`): the median
over independent keys inside the claim's band and every key inside its key band (Model: flow;
depth orders 1, 2, 4; width M^(-1/2) with the depth ratios of i.i.d. and tied heads; tokens
n^(-1/2) for the query and for W_2)."""

import jax
import pytest

import mftransformer as mft
from mftransformer.experiments import forward as ch

KEY = jax.random.key(0)


def ci(section, **overrides):
    """A ``ci`` section of the chapter, with ``overrides`` (validated by its schema)."""
    return getattr(mft.params.load("forward", "ci", {section: overrides}), section)


def assert_robust(result, *names):
    """Each named check passed on the median and on every key (the line says which failed)."""
    for name in names:
        check = result.check[name]
        assert len(check.keys) >= 5, f"{name}: {len(check.keys)} keys"
        assert check.passed, str(check)


@pytest.mark.slow
def test_depth_slopes():
    r = ch.depth(ci("depth", n=6, M=4, Ls=(8, 16, 32, 64, 128), L_ref=1024), key=KEY)
    assert_robust(r, "depth_slope_euler", "depth_slope_heun", "depth_slope_rk4")


@pytest.mark.slow
def test_width_slopes_and_depth_ratios():
    # another key than the book's: the checks must hold on the median and every key
    r = ch.width(ci("width"), key=KEY)
    assert_robust(r, "width_slope_iid", "width_slope_tied", "width_iid_vs_L", "width_tied_vs_L")
    assert len(r.check["width_tied_vs_L"].keys) == r.ratio["tied"].size  # keys × ratio_Ms


@pytest.mark.slow
def test_token_slopes():
    r = ch.tokens(ci("tokens", L=8, ns=(64, 128, 256, 512)), key=KEY)
    assert_robust(r, "token_slope", "token_w2_slope")

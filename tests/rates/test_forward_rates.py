"""Chapter 1 rates at small size, by regression over >= 4 sizes, through the chapter's own
experiment functions (MATH.md §2, §7): depth orders 1, 2, 4; width M^(-1/2) with the depth
ratios of i.i.d. and tied heads; tokens n^(-1/2)."""

import jax
import numpy as np
import pytest
from tolerances import DEPTH_SLOPE_TOL, RK4_SLOPE_MAX, TOKEN_SLOPE_TOL, WIDTH_SLOPE_TOL

from mftransformer.experiments import forward as ch

KEY = jax.random.key(0)


@pytest.mark.slow
def test_depth_slopes():
    p = ch.DepthParams(d=2, n=6, M=4, scale=0.8, Ls=(8, 16, 32, 64, 128), L_ref=1024, fit_from=16)
    r = ch.depth(p, key=KEY)
    s = r.values["slopes"]
    assert abs(s["euler"] + 1) <= DEPTH_SLOPE_TOL["euler"], f"Euler slope {s['euler']:.3f}"
    assert abs(s["heun"] + 2) <= DEPTH_SLOPE_TOL["heun"], f"Heun slope {s['heun']:.3f}"
    assert s["rk4"] <= RK4_SLOPE_MAX, f"RK4 slope {s['rk4']:.3f}"
    r.check.require()


@pytest.mark.slow
def test_width_slopes_and_depth_ratios():
    p = ch.WidthParams(d=2, n=4, K=4, sigma=1.0, sigma_A=1.0, sigma_V=1.0, Ls=(16, 64),
                       Ms=(8, 32, 128, 512), seeds=32, ratio_Ms=(32, 128), fit_from=32)
    r = ch.width(p, key=KEY)
    for kind in ("iid", "tied"):
        slope = r.values["slopes"][kind]
        assert abs(slope + 0.5) <= WIDTH_SLOPE_TOL, f"{kind} width slope {slope:.3f}"
    assert np.all((r.values["ratio"]["iid"] >= 0.35) & (r.values["ratio"]["iid"] <= 0.70)), r.check
    assert np.all((r.values["ratio"]["tied"] >= 0.75) & (r.values["ratio"]["tied"] <= 1.33)), r.check
    r.check.require()


@pytest.mark.slow
def test_token_slope():
    p = ch.TokensParams(d=2, L=8, M=4, sigma_A=1.0, sigma_V=1.0, mean=0.5,
                        ns=(32, 64, 128, 256, 512), seeds=32)
    r = ch.tokens(p, key=KEY)
    assert abs(r.values["slope"] + 0.5) <= TOKEN_SLOPE_TOL, f"token slope {r.values['slope']:.3f}"
    r.check.require()



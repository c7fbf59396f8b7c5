"""Orders in depth of the continuous adjoint, through the chapter's own experiment function."""

import jax
import pytest
from tolerances import CONTINUOUS_SLOPE_TOL, CONTINUOUS_VS_DISCRETE_SLOPE_MAX

from mftransformer.experiments import adjoint as chapter


@pytest.mark.slow
def test_continuous_adjoint_orders():
    p = chapter.DepthParams(d=2, n=4, N=1, M=2, scale=0.8, Ls=(8, 16, 32, 64, 128), L_ref=512)
    result = chapter.depth(p, key=jax.random.key(11))
    slopes = result.values["slopes"]
    assert abs(slopes["euler"] + 1) < CONTINUOUS_SLOPE_TOL["euler"], f"Euler slope {slopes}"
    assert abs(slopes["heun"] + 2) < CONTINUOUS_SLOPE_TOL["heun"], f"Heun slope {slopes}"
    assert slopes["exact"] < CONTINUOUS_VS_DISCRETE_SLOPE_MAX, f"network vs continuous {slopes}"
    assert result.check.passed, str(result.check)

"""Orders of chapter 3 by regression, via the chapter's own experiment functions (MATH.md §4)."""

import jax
import pytest
from tolerances import GRADFLOW_DISSIPATION_SLOPE_TOL, GRADFLOW_ENERGY_SLOPE_TOL

from mftransformer.experiments import gradflow as chapter


@pytest.mark.slow
def test_energy_orders_in_eta():
    # five halvings of the step: 1 − ρ_0 and the integrated defect are O(η)
    p = chapter.EnergyParams(
        d=2,
        n=5,
        N=4,
        L=3,
        M=16,
        sigma=1.0,
        T=2.0,
        etas=(0.04, 0.02, 0.01, 0.005, 0.0025),
        rtol=1e-8,
    )
    result = chapter.energy(p, key=jax.random.key(11))
    rho = result.check["dissipation_order"].measured
    d = result.check["energy_identity"].measured
    assert abs(rho - 1) <= GRADFLOW_DISSIPATION_SLOPE_TOL, f"1 − ρ_0 slope {rho:.3f}, expected 1"
    assert abs(d - 1) <= GRADFLOW_ENERGY_SLOPE_TOL, f"defect slope {d:.3f}, expected 1"
    # left Riemann and trapezoid defects have opposite signs (MATH.md §4)
    assert (result.defect * result.defect_left < 0).all(), (result.defect, result.defect_left)

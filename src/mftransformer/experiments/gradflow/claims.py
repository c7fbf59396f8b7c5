"""Chapter 3 claims table: the one home of every band of the chapter.

Read by :mod:`.run` (each experiment builds its checks from its rows) and by the tests.
"""

from ..checks import Claim, Claims

__all__ = ["CLAIMS"]

ENERGY = "Energy dissipation"
WIDTH = "Width: finite networks track the mean-field flow"
DEPTH = "Depth: finite networks track the continuous-depth flow"
STABILITY = "Stability of the flow"

CLAIMS = Claims(
    "gradflow",
    (
        Claim(
            "dissipation_order",
            "energy",
            ENERGY,
            "log-log slope of the one-step defect 1 − ρ_0 against eta",
            "within",
            target=1.0,
            band=0.05,
            reason="gradient descent is first order in eta; measured 0.999",
        ),
        Claim(
            "energy_identity",
            "energy",
            ENERGY,
            "slope of the relative trapezoid defect d(eta) of R(0) − R(T) = ∫‖g‖²",
            "within",
            target=1.0,
            band=0.1,
            reason="the integrated defect is O(eta); least squares over >= 4 halvings",
        ),
        Claim(
            "energy_richardson",
            "energy",
            ENERGY,
            "|2 d(eta_min) − d(2 eta_min)|: the O(eta) term cancels",
            "below",
            band=1e-4,
            show_value=True,
            sig=1,
            reason="what remains is O(eta²) (measured at design time: 3e-6)",
        ),
        Claim(
            "flow_energy_identity",
            "energy",
            ENERGY,
            "adaptive diffrax flow: |R(0) − R(T) − E(T)| / (R(0) − R(T))",
            "below",
            band=1e-6,
            show_value=True,
            sig=1,
            sanity=True,
            reason="Tsit5 at rtol = atol = 1e-8 integrates θ and E together (measured 3e-8)",
        ),
        Claim(
            "gd_to_flow_order",
            "energy",
            ENERGY,
            "slope of max_t |R_eta − R_flow| against eta",
            "within",
            target=1.0,
            band=0.1,
            reason="gradient descent approaches the flow at order 1",
        ),
        Claim(
            "meanfield_spread",
            "meanfield",
            WIDTH,
            "std over seeds of R(T), narrowest over widest width",
            "above",
            band=4.0,
            reason=(
                "the spread falls like M^{-1/2}: 64× the heads give ~8 (measured at design "
                "time: 37/25)"
            ),
        ),
        Claim(
            "meanfield_mean",
            "meanfield",
            WIDTH,
            "max_t |mean R of the second widest − of the widest| / mean of the widest",
            "below",
            band=0.05,
            show_value=True,
            reason="the mean converges to the mean-field curve (measured at design time: 0.7 %)",
        ),
        Claim(
            "depth_consistency",
            "depth",
            DEPTH,
            "slope in L of max_t |R_{2L} − R_L| from one smooth initial measure",
            "below",
            band=-0.8,
            show_value=True,
            sig=3,
            reason="the Euler depth discretisation is first order",
        ),
        Claim(
            "stability_lipschitz",
            "stability",
            STABILITY,
            "largest relative disagreement of D(t)/D(0) across delta",
            "below",
            band=0.01,
            show_value=True,
            reason="the flow is differentiable in the initial measure: first order in delta",
        ),
        Claim(
            "stability_growth",
            "stability",
            STABILITY,
            "largest D(T)/D(0)",
            "below",
            band=10.0,
            show_value=True,
            reason="the Grönwall-type bound D(t) <= e^{Ct} D(0) over T = 10 (measured 1.3–1.5)",
        ),
    ),
)

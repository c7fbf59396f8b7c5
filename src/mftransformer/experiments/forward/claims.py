"""Chapter 1 claims table: the one home of every band of the chapter.

Read by :mod:`.run` (each experiment builds its checks from its rows) and by the tests.
"""

from ..checks import Claim, Claims

__all__ = ["CLAIMS"]

TOKENS = "Tokens through depth"
FLOW = "The flow map is a diffeomorphism"
DEPTH = "Depth: the network is a time discretisation"
WIDTH = "Width: heads are Monte Carlo samples of the head measure"
SAMPLED = "Tokens: a sampled input against the continuous one"
STABILITY = "Stability: output change against input change"

CLAIMS = Claims(
    "forward",
    (
        Claim(
            "support_bound",
            "trajectories",
            TOKENS,
            "largest token norm over the Result-1 bound R_0 Π(1 + h v_ℓ), worst layer and input",
            "below",
            band=1 + 1e-12,
            show_value=True,
            sanity=True,
            reason="exact algebra: only round-off may exceed the bound",
        ),
        Claim(
            "diffeo",
            "flow",
            FLOW,
            "min det DX_1 over the grid (forward-mode Jacobian)",
            "above",
            band=0.0,
            reason="a diffeomorphism keeps det DX_1 > 0; any positive value holds",
        ),
        Claim(
            "depth_slope_euler",
            "depth",
            DEPTH,
            "log-log slope of the Euler error against L (L >= fit_from), RK4 reference",
            "within",
            target=-1.0,
            band=0.1,
            reason="Euler order 1; least squares over >= 5 depths",
        ),
        Claim(
            "depth_slope_heun",
            "depth",
            DEPTH,
            "the same slope for Heun",
            "within",
            target=-2.0,
            band=0.15,
            reason="Heun order 2; the fit of a second-order error bends more at small L",
        ),
        Claim(
            "depth_slope_rk4",
            "depth",
            DEPTH,
            "the same slope for RK4, on errors above 1e-12",
            "below",
            band=-3.8,
            show_value=True,
            reason="RK4 order 4; below 1e-12 the reference's own error shows",
        ),
        Claim(
            "width_slope_iid",
            "width",
            WIDTH,
            "slope of the RMS error against M, heads i.i.d. per layer, at the short L",
            "within",
            target=-0.5,
            band=0.1,
            reason="Monte Carlo over heads, M^{-1/2}; RMS over seeds",
        ),
        Claim(
            "width_slope_tied",
            "width",
            WIDTH,
            "the same slope, heads tied across layers",
            "within",
            target=-0.5,
            band=0.1,
            reason="Monte Carlo over heads, M^{-1/2}; RMS over seeds",
        ),
        Claim(
            "width_iid_vs_L",
            "width",
            WIDTH,
            "e(long L)/e(short L) at each ratio_Ms, i.i.d. heads",
            "between",
            band=(0.35, 0.70),
            reason="(LM)^{-1/2}: L four times larger halves the error; seeds spread the ratio",
        ),
        Claim(
            "width_tied_vs_L",
            "width",
            WIDTH,
            "the same ratio, tied heads",
            "between",
            band=(0.75, 1.33),
            reason="M^{-1/2} independent of L: the ratio is one up to Monte Carlo spread",
        ),
        Claim(
            "token_slope",
            "tokens",
            SAMPLED,
            "slope of the query error against n, sampled tokens vs the Gaussian closed form",
            "within",
            target=-0.5,
            band=0.15,
            reason="Monte Carlo over tokens, n^{-1/2}; RMS over seeds",
        ),
        Claim(
            "stability_theta",
            "stability",
            STABILITY,
            "relative spread over delta of |Δ output|/delta, heads perturbed (D_sync = delta)",
            "below",
            band=0.01,
            show_value=True,
            reason="differentiable in the heads: the first-order term dominates for delta <= 1e-2",
        ),
        Claim(
            "stability_tokens",
            "stability",
            STABILITY,
            "the same spread, tokens perturbed (delta in L²(μ))",
            "below",
            band=0.01,
            show_value=True,
            reason="differentiable in the tokens: the first-order term dominates",
        ),
    ),
)

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
            reason="a weighted mean of tokens is a convex combination: the bound holds by "
            "construction and only round-off may exceed it (a sanity check of the numerics)",
        ),
        Claim(
            "diffeo",
            "flow",
            FLOW,
            "min det DX_1 of the flow (RK4 at L_flow) over the grid (forward-mode Jacobian)",
            "above",
            band=0.0,
            reason="a diffeomorphism keeps det DX_1 > 0; any positive value holds",
        ),
        Claim(
            "euler_fold",
            "flow",
            FLOW,
            "h*·L: the Euler step where min det DX_1 first reaches 0 (scanning from fine to "
            "coarse) over the book's step 1/L; nan when no scanned step folds",
            "above",
            band=1.0,
            reason="the Euler map folds once h·|∂_x F| exceeds one somewhere; the book's network "
            "must lie on the safe side (h*·L > 1), and the fold must show inside the scan",
        ),
        Claim(
            "depth_slope_euler",
            "depth",
            DEPTH,
            "log-log slope of the Euler error against L (L >= fit_from), RK4 reference",
            "within",
            target=-1.0,
            band=0.1,
            key_band=0.2,
            reason="Euler order 1; least squares over >= 5 depths; each key's slope carries its "
            "own pre-asymptotic bend",
        ),
        Claim(
            "depth_slope_heun",
            "depth",
            DEPTH,
            "the same slope for Heun",
            "within",
            target=-2.0,
            band=0.15,
            key_band=0.3,
            reason="Heun order 2; the fit of a second-order error bends more at small L, and "
            "more for some draws of the heads",
        ),
        Claim(
            "depth_slope_rk4",
            "depth",
            DEPTH,
            "the same slope for RK4, on errors above 1e-12",
            "below",
            band=-3.8,
            key_band=-3.5,
            show_value=True,
            reason="RK4 order 4; below 1e-12 the reference's own error shows, leaving some keys "
            "few points to fit",
        ),
        Claim(
            "width_slope_iid",
            "width",
            WIDTH,
            "slope of the RMS error against M, heads i.i.d. per layer, at the short L",
            "within",
            target=-0.5,
            band=0.1,
            key_band=0.2,
            reason="Monte Carlo over heads, M^{-1/2}; each key's RMS is over few seeds",
        ),
        Claim(
            "width_slope_tied",
            "width",
            WIDTH,
            "the same slope, heads tied across layers",
            "within",
            target=-0.5,
            band=0.1,
            key_band=0.2,
            reason="Monte Carlo over heads, M^{-1/2}; each key's RMS is over few seeds",
        ),
        Claim(
            "width_iid_vs_L",
            "width",
            WIDTH,
            "e(long L)/e(short L), i.i.d. heads, over keys × ratio_Ms",
            "between",
            band=(0.35, 0.70),
            key_band=(0.25, 0.90),
            reason="(LM)^{-1/2}: L four times larger halves the error; one key's ratio of two "
            "RMS errors over few seeds spreads by about ±25 %",
        ),
        Claim(
            "width_tied_vs_L",
            "width",
            WIDTH,
            "the same ratio, tied heads, over keys × ratio_Ms",
            "between",
            band=(0.75, 1.33),
            key_band=(0.5, 2.0),
            reason="M^{-1/2} independent of L: the ratio is one up to Monte Carlo spread; tied "
            "errors do not average over layers, so one key's ratio spreads more",
        ),
        Claim(
            "token_slope",
            "tokens",
            SAMPLED,
            "slope of the query error against n, sampled tokens vs the Gaussian closed form",
            "within",
            target=-0.5,
            band=0.15,
            key_band=0.3,
            reason="Monte Carlo over tokens, n^{-1/2}; one query per sample: each key's RMS "
            "over few samples is noisy",
        ),
        Claim(
            "token_w2_slope",
            "tokens",
            SAMPLED,
            "slope against n of W_2(transported tokens, exact n = ∞ map of the same samples)",
            "within",
            target=-0.5,
            band=0.1,
            key_band=0.2,
            reason="Monte Carlo over tokens, n^{-1/2} (RMS over seeds); kept to tokens within "
            "w2_radius of the mean, where a token's tilt |Ax| is small: a tilted mean's effective "
            "sample size is about n exp(-|Ax|^2), pre-asymptotic in the tail at n = 64 (radius 2: "
            "slopes -0.36 to -0.45 on single keys)",
        ),
        Claim(
            "stability_theta",
            "stability",
            STABILITY,
            "relative spread over delta of |Δ output|/delta along the worst head direction "
            "(power iteration; D_sync = delta)",
            "below",
            band=0.01,
            key_band=0.02,
            show_value=True,
            reason="differentiable in the heads: the first-order term dominates for delta <= 1e-2; "
            "along the worst direction the second-order term at delta = 1e-2 reaches about 1 % "
            "for some keys",
        ),
        Claim(
            "stability_tokens",
            "stability",
            STABILITY,
            "the same spread along the worst token direction (delta in L²(μ))",
            "below",
            band=0.01,
            key_band=0.02,
            show_value=True,
            reason="differentiable in the tokens: the first-order term dominates; the worst "
            "direction is also the most curved for some keys",
        ),
        Claim(
            "lipschitz_theta",
            "stability",
            STABILITY,
            "log10 of the worst-case |Δ output|_{L²(μ)} / D_sync (power iteration) over the "
            "Result-1 bound",
            "below",
            band=0.0,
            show_value=True,
            reason="Result 1 (stability in the heads, our reconstruction): a bound, so every key "
            "must lie below it (log10 ratio < 0)",
        ),
        Claim(
            "lipschitz_tokens",
            "stability",
            STABILITY,
            "log10 of the worst-case |Δ output|/|Δ input| in L²(μ) (power iteration) over "
            "the Result-1 bound",
            "below",
            band=0.0,
            show_value=True,
            reason="Result 1 (stability in the tokens): a bound, every key below it "
            "(log10 ratio < 0)",
        ),
        Claim(
            "stability_w1",
            "stability",
            STABILITY,
            "log10 of the largest W_1(outputs)/W_1(inputs) over delta, tokens and weights "
            "perturbed, over the Result-1 bound",
            "below",
            band=0.0,
            show_value=True,
            reason="Result 1 (W_1 stability): a bound, every key below it (log10 ratio < 0)",
        ),
    ),
)

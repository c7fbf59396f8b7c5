"""Chapter 4 claims table: the one home of every band of the chapter.

Read by :mod:`.run` (each experiment builds its checks from its rows) and by the tests. The
verdict thresholds of the LSE test itself (``DEPENDENT_BELOW``, ``INDEPENDENT_ABOVE``) belong to
:mod:`mftransformer.solver.ntk`; the rows that compare with them refer to them.
"""

from ...solver.ntk import DEPENDENT_BELOW
from ..checks import Claim, Claims

__all__ = ["CLAIMS"]

KERNEL = "Two ways to the same kernel"
CRITERION = "The criterion, tested on the measures"
FAMILIES = "The NTK on the same families"
SCAN = "From a failing family to a holding one"
SAMPLED = "Sampled laws are only nearly dependent"
MANY = "The kernel of many heads"
FLOOR = "exact dependencies sit at the float64 floor"

CLAIMS = Claims(
    "ntk",
    (
        Claim(
            "ntk_closed_form",
            "closed_form",
            KERNEL,
            "silent-point closed form against L M J Jᵀ from JAX, worst block (relative)",
            "below",
            band=1e-12,
            sanity=True,
            reason="the same algebra: float64 round-off (measured at design time: 8e-16)",
        ),
        Claim(
            "lse_verdicts",
            "lse_families",
            CRITERION,
            (
                "LSE verdicts (modulo affine and modulo constants) that match the predicted "
                "verdicts "
                "of each family"
            ),
            "within",
            band=0.0,
            decimals=0,
            reason="every verdict must match: the target is twice the number of families",
        ),
        Claim(
            "null_vectors",
            "lse_families",
            CRITERION,
            "1 − |cos(c, c_pred)| of the null combination found, worst family",
            "below",
            band=1e-8,
            reason="a relation the theory predicts exactly is found to round-off",
        ),
        Claim(
            "ntk_singular",
            "model_families",
            FAMILIES,
            "BB, CV: largest λ_min/λ_max of K, K^V, K^QK",
            "below",
            band=DEPENDENT_BELOW,
            reason=FLOOR,
        ),
        Claim(
            "translates_uncentred_qk",
            "model_families",
            FAMILIES,
            "uncentred translates: λ_min/λ_max of K^QK",
            "below",
            band=DEPENDENT_BELOW,
            reason=FLOOR,
        ),
        Claim(
            "translates_uncentred_v",
            "model_families",
            FAMILIES,
            "uncentred translates: the smaller λ_min/λ_max of K and K^V",
            "above",
            band=1e-3,
            reason="the value block keeps a clear margin (measured at design time: 0.42/3.5 ≈ 0.1)",
        ),
        Claim(
            "lse_ntk_agree",
            "model_families",
            FAMILIES,
            "families where the LSE verdict and the NTK verdict agree",
            "within",
            band=0.0,
            decimals=0,
            reason="Result 4: the two verdicts are equal for every family",
        ),
        Claim(
            "scan_zero",
            "scan",
            SCAN,
            "LSE ρ and NTK λ_min/λ_max at t = 0 (exact translate)",
            "below",
            band=DEPENDENT_BELOW,
            reason=FLOOR,
        ),
        Claim(
            "scan_together",
            "scan",
            SCAN,
            "log-log slope of λ_min/λ_max against the LSE ρ",
            "within",
            target=2.0,
            band=0.2,
            reason="LSE ρ ∝ t and λ_min(K) ∝ t² (a Gram matrix squares)",
        ),
        Claim(
            "empirical_gauss_decreasing",
            "empirical_gauss",
            SAMPLED,
            "largest ratio of successive geometric means of ρ (n >= fit_from)",
            "below",
            band=1.0,
            show_value=True,
            reason="the geometric mean over seeds decreases with n",
        ),
        Claim(
            "empirical_gauss",
            "empirical_gauss",
            SAMPLED,
            "slope of the geometric mean of ρ against n",
            "between",
            band=(-0.7, -0.3),
            reason="Monte Carlo over samples, about n^{-1/2} (measured at design time: −0.45)",
        ),
        Claim(
            "ntk_mc_rate",
            "mean_field",
            MANY,
            "slope in P of the RMS relative error against the mean-field kernel",
            "within",
            target=-0.5,
            band=0.1,
            reason="Monte Carlo over head pairs, P^{-1/2}; RMS over seeds",
        ),
        Claim(
            "rank_bound",
            "rank",
            MANY,
            "numbers of head pairs P where rank K = min(N d_out, P d (d_out + 1))",
            "within",
            band=0.0,
            decimals=0,
            reason="exact: the count must equal the number of P tried",
        ),
    ),
)

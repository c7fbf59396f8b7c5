"""The core tolerances of the test suite: named, per dtype where it matters, with its reason.

A chapter's bands (slopes, ratios, bounds of its checks) live in its claims table,
``mftransformer.experiments.<chapter>.CLAIMS`` (or ``experiments.claims(chapter)``); the tests of
the chapters read them there. The few chapter bands that core tests also use are defined below
from those tables, so that each has one home. A test imports its names from here and prints the
value it measured on failure.
"""

from mftransformer.experiments import adjoint, forward, gradflow

# ------------------------------------------------------------ core (measures, attention, forward)
#: same algebra computed two ways (einsum vs explicit loops / closed forms): float64 round-off.
SAME_ALGEBRA_RTOL = {"float64": 1e-12, "float32": 1e-5}
#: diffrax Tsit5 (rtol = atol = 1e-12) vs RK4 at L = 2048: both ~1e-13 from the exact flow.
ODE_VS_RK4_ATOL = 1e-10
#: Monte Carlo: Gaussian closed form vs n sampled tokens, error ~ C n^{-1/2}; at n = 20000 the
#: observed error is ~1e-2, so 5e-2 leaves room for the constant without hiding an O(1) bug.
GAUSSIAN_VS_SAMPLES_ATOL = 5e-2

# ---------------------------------------------------------------- chapter 2 (adjoint)
#: exact discrete adjoint vs jax.grad: the same algebra in another order; float64 gives ~3e-16
#: (the float64 value is the band of the chapter's ``adjoint_vs_autodiff``).
ADJOINT_VS_AUTODIFF_RTOL = {"float64": adjoint.CLAIMS["adjoint_vs_autodiff"].band, "float32": 1e-5}
#: central differences, the ablation: the chapter's bands (reasons in its claims table).
FD_RATIO_BAND = adjoint.CLAIMS["fd_order"].band
FD_ERROR_MAX = adjoint.CLAIMS["fd_error_1e-4"].band
INTERACTION_MIN = adjoint.CLAIMS["interaction_needed"].band

# ---------------------------------------------------------------- chapter 3 (gradient flow)
#: adaptive Tsit5 (rtol = atol = 1e-8) integrates θ and E = ∫‖g‖² together: the energy identity
#: R(0) − R(T) = E(T) then holds to ~1e-8 of the drop (the chapter's ``flow_energy_identity``).
GRADFLOW_FLOW_ENERGY_RTOL = gradflow.CLAIMS["flow_energy_identity"].band

# ---------------------------------------------------------------- chapter 4 (NTK, LSE independence)
# (the closed-form NTK vs L M J J^T is the chapter's claim ``ntk_closed_form``, 1e-12: the tests
# read its band from the claims table; measured 5.9e-16.)
#: Jacobian-free Gram (vjp + jvp) vs the Gram of the full jax.jacrev Jacobian: same derivatives.
NTK_JACREV_RTOL = {"float64": 1e-12}
#: closed-form tilted mean/covariance of a law vs jax.grad / jax.hessian of its LSE.
LAW_TILTED_RTOL = {"float64": 1e-10}
#: exact dependencies: sigma_min/sigma_max and lambda_min/lambda_max at the float64 floor.
LSE_DEPENDENT_BELOW = 1e-12
#: holding families at test size: sigma_min/sigma_max (modulo affine) clearly above the noise floor;
#: the weakest family (U4, equal-step lengths) measures ~2e-4, MX6 ~1.6e-5 (MATH.md §5.5).
LSE_INDEPENDENT_ABOVE = 1e-6
#: Monte Carlo: P = 2000 pairs against the mean-field kernel, error ~ 0.3 P^{-1/2} ~ 7e-3
#: (measured); 5e-2 leaves room for the constant without hiding an O(1) scaling bug (a factor 2
#: gives 1).
NTK_MEAN_FIELD_RTOL = 5e-2

# ---------------------------------------------------------------- chapter 1 (forward)
#: Monte Carlo LSE of 1e5 samples vs the closed form: std ~ sqrt(Var e^{<q,y>})/(E e^{<q,y>} sqrt n)
#: ~ 4e-3 for |q| <= 1; 2e-2 is ~5 standard deviations.
GAUSSIAN_LSE_MC_ATOL = 2e-2
#: Euler (scan) vs diffrax Euler at the same constant step, same algebra in another order.
SCAN_VS_DIFFRAX_SAME_STEP_ATOL = 1e-12
#: Width reference: padded heads (V scaled, zero heads) vs the plain network, same field to
#: round-off.
PADDED_HEADS_ATOL = 1e-12
#: Result 1 support bound: exact algebra; only round-off may exceed it (the chapter's band is
#: 1 + this slack on the ratio of the largest norm to the bound).
SUPPORT_BOUND_RTOL = forward.CLAIMS["support_bound"].band - 1

# ---------------------------------------------------------------- chapter 5 (convergence)
#: R_lin (closed form, exact algebra of the eigen-decomposition) vs an explicit linear iteration.
LAZY_PREDICTION_RTOL = 1e-10

"""Every tolerance of the test suite: named, per dtype where it matters, with its reason.

Sections are appended per chapter; a test imports its names from here and prints the value it
measured on failure.
"""

# ---------------------------------------------------------------- core (measures, attention, forward)
#: same algebra computed two ways (einsum vs explicit loops / closed forms): float64 round-off.
SAME_ALGEBRA_RTOL = {"float64": 1e-12, "float32": 1e-5}
#: Euler/Heun/RK4 slopes in depth from a least-squares fit over >= 5 depths (MATH.md §7).
DEPTH_SLOPE_TOL = {"euler": 0.1, "heun": 0.15}
#: diffrax Tsit5 (rtol = atol = 1e-12) vs RK4 at L = 2048: both ~1e-13 from the exact flow.
ODE_VS_RK4_ATOL = 1e-10
#: Monte Carlo: Gaussian closed form vs n sampled tokens, error ~ C n^{-1/2}; at n = 20000 the
#: observed error is ~1e-2, so 5e-2 leaves room for the constant without hiding an O(1) bug.
GAUSSIAN_VS_SAMPLES_ATOL = 5e-2

# ---------------------------------------------------------------- chapter 2 (adjoint)
#: exact discrete adjoint vs jax.grad: the same algebra in another order; float64 gives ~3e-16.
ADJOINT_VS_AUTODIFF_RTOL = {"float64": 1e-12, "float32": 1e-5}
#: central differences: error ∝ ε², so e(1e-3)/e(1e-4) ≈ 100; the band allows the ε⁴ term and
#: round-off (floor ~1e-10 relative to ‖∇R‖‖D‖, MATH.md §3.3).
FD_RATIO_BAND = (50.0, 200.0)
#: FD error at ε = 1e-4 relative to ‖∇R‖‖D‖: ε² times a third derivative of order one.
FD_ERROR_MAX = 1e-6
#: the frozen-context ablation must be measurably wrong (MATH.md §3.3 measures 8–24 %).
INTERACTION_MIN = 0.05
#: continuous adjoint in depth: Euler order 1, Heun order 2 (least squares over >= 5 depths).
CONTINUOUS_SLOPE_TOL = {"euler": 0.1, "heun": 0.15}
#: the Euler network's exact gradient approaches the continuous one at order 1 (MATH.md §7).
CONTINUOUS_VS_DISCRETE_SLOPE_MAX = -0.8
#: compiled working memory of the continuous adjoint: flat in L up to XLA's bookkeeping.
FLAT_MEMORY_RATIO = 1.3
#: exact adjoint: bytes per layer over the token states it stores (alignment slack only).
STATE_BYTES_SLACK = 1.05

# ---------------------------------------------------------------- chapter 3 (gradient flow)
#: adaptive Tsit5 (rtol = atol = 1e-8) integrates θ and E = ∫‖g‖² together: the energy identity
#: R(0) − R(T) = E(T) then holds to ~1e-8 of the drop (measured 3e-8); 1e-6 leaves room.
GRADFLOW_FLOW_ENERGY_RTOL = 1e-6
#: gradient-descent orders in η (MATH.md §4): 1 − ρ_0 and the integrated defect are O(η);
#: least-squares slopes over >= 4 halvings, measured 0.999 and 1.00.
GRADFLOW_DISSIPATION_SLOPE_TOL = 0.05
GRADFLOW_ENERGY_SLOPE_TOL = 0.1

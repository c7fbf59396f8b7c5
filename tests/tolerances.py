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

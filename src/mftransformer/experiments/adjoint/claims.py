"""Chapter 2 claims table: the one home of every band of the chapter.

Read by :mod:`.run` (each experiment builds its checks from its rows) and by the tests.
"""

from ..checks import Claim, Claims

__all__ = ["CLAIMS"]

FIELD = "The adjoint field along token trajectories"
AGREEMENT = "Adjoint, autodiff and finite differences"
INTERACTION = "Dropping the interaction term"
DEPTH = "The continuous adjoint against depth"
MEMORY = "Memory and time"

CLAIMS = Claims(
    "adjoint",
    (
        Claim(
            "adjoint_field",
            "field",
            FIELD,
            "λ^0 against jax.grad of R in the input tokens (relative, Frobenius)",
            "below",
            band=1e-12,
            sanity=True,
            reason=(
                "same algebra computed two ways: float64 round-off (measured at design time: 3e-16)"
            ),
        ),
        Claim(
            "adjoint_vs_autodiff",
            "agreement",
            AGREEMENT,
            "exact adjoint (Euler, Heun) against jax.grad, worst relative error",
            "below",
            band=1e-12,
            reason=(
                "same algebra in another order: float64 round-off (measured at design time: 3e-16)"
            ),
        ),
        Claim(
            "fd_order",
            "agreement",
            AGREEMENT,
            "central-difference error e(1e-3)/e(1e-4), relative to ‖∇R‖‖D‖",
            "between",
            band=(50.0, 200.0),
            reason="error ∝ ε² gives 100; the band allows the ε⁴ term and round-off",
        ),
        Claim(
            "fd_error_1e-4",
            "agreement",
            AGREEMENT,
            "central-difference error at ε = 1e-4, relative to ‖∇R‖‖D‖",
            "below",
            band=1e-6,
            reason="ε² times a third derivative of order one, above the round-off floor ~1e-10",
        ),
        Claim(
            "interaction_needed",
            "interaction",
            INTERACTION,
            "smallest relative gradient error of the frozen-context (local-only) adjoint",
            "above",
            band=0.05,
            reason=(
                "dropping the interaction must be measurably wrong (measured at design time: "
                "8–24 %)"
            ),
        ),
        Claim(
            "continuous_slope_euler",
            "depth",
            DEPTH,
            "slope in L of the Euler continuous adjoint against the RK4 reference",
            "within",
            target=-1.0,
            band=0.1,
            reason="Euler order 1; least squares over >= 5 depths",
        ),
        Claim(
            "continuous_slope_heun",
            "depth",
            DEPTH,
            "the same slope for Heun",
            "within",
            target=-2.0,
            band=0.15,
            reason="Heun order 2; least squares over >= 5 depths",
        ),
        Claim(
            "continuous_vs_discrete",
            "depth",
            DEPTH,
            "slope in L of the Euler network's exact gradient against the continuous one",
            "below",
            band=-0.8,
            show_value=True,
            reason="the discrete gradient approaches the continuous one at order 1",
        ),
        Claim(
            "continuous_flat_memory",
            "memory",
            MEMORY,
            "compiled working memory of the continuous adjoint, deepest over shallowest L",
            "below",
            band=1.3,
            show_value=True,
            reason="flat in L up to XLA's bookkeeping (30 % over the depths)",
        ),
        Claim(
            "exact_bytes_per_layer",
            "memory",
            MEMORY,
            "growth per layer of the exact adjoint's working memory over one layer's states",
            "below",
            band=1.05,
            show_value=True,
            reason="it stores the token states only; 5 % for XLA's buffer alignment",
        ),
    ),
)

"""Initialisations of the head measure ν and supervised tasks (MATH.md §1.5).

Generic initialisation: i.i.d. entries ``A ~ N(0, σ_A²/d)``, ``V ~ N(0, σ_V²/d)``.
Silent initialisation: each layer holds ``M/2`` heads and their mirrors ``(A, −V)``, stored as
halves (``A[:, M/2 + m] = A[:, m]``, ``V[:, M/2 + m] = −V[:, m]``), so that ``F ≡ 0``, the flow
is the identity and ``Y_i(ν_0) = W ξ_0``.
"""

import jax
import jax.numpy as jnp

from .attention import Heads, SmoothHeads
from .errors import ParameterError

__all__ = ["generic_init", "silent_init", "smooth_heads"]


def generic_init(L: int, M: int, d: int, *, key, sigma_A: float = 1.0, sigma_V: float = 1.0) -> Heads:
    """I.i.d. Gaussian heads: entries ``A ~ N(0, σ_A²/d)``, ``V ~ N(0, σ_V²/d)``, ``(L, M, d, d)``."""
    _check_sizes("generic_init", L=L, M=M, d=d)
    k_A, k_V = jax.random.split(key)
    scale = 1.0 / jnp.sqrt(d)
    A = sigma_A * scale * jax.random.normal(k_A, (L, M, d, d))
    V = sigma_V * scale * jax.random.normal(k_V, (L, M, d, d))
    return Heads(A, V)


def silent_init(L: int, M: int, d: int, *, key, sigma_A: float = 1.0, sigma_V: float = 1.0) -> Heads:
    """Mirrored heads, stored as halves: ``F ≡ 0`` to round-off, so ``X_s = id``.

    Raises:
        ParameterError: odd ``M`` (heads come in mirrored pairs).
    """
    _check_sizes("silent_init", L=L, M=M, d=d)
    if M % 2:
        raise ParameterError(f"silent_init: M = {M}; allowed even M (heads come in mirrored pairs).")
    half = generic_init(L, M // 2, d, key=key, sigma_A=sigma_A, sigma_V=sigma_V)
    return Heads(
        jnp.concatenate([half.A, half.A], axis=1), jnp.concatenate([half.V, -half.V], axis=1)
    )


def smooth_heads(M: int, d: int, *, key, scale: float = 0.8) -> SmoothHeads:
    """Depth-smooth heads ``θ_m(s) = θ⁰_m + sin(πs) θ¹_m`` with i.i.d. ``N(0, scale²)`` entries."""
    _check_sizes("smooth_heads", M=M, d=d)
    keys = jax.random.split(key, 4)
    A0, A1, V0, V1 = (scale * jax.random.normal(k, (M, d, d)) for k in keys)
    return SmoothHeads(A0, A1, V0, V1)


def _check_sizes(where, **sizes):
    for name, value in sizes.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ParameterError(f"{where}: {name} = {value!r}; allowed integer >= 1.")

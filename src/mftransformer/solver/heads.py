"""Attention heads ``θ = (A, V)``: the network's layer-wise heads and heads smooth in depth.

Model page, "One head". A network of ``L`` layers of ``M`` heads is the
measure ``ν^{L,M}_s = (1/M) Σ_m δ_{θ_{ℓm}}`` on ``s ∈ [ℓ/L, (ℓ+1)/L)``; each particle carries mass
``1/(LM)``. Re-exported by :mod:`.attention`.
"""

import equinox as eqx
import jax
import jax.numpy as jnp

from .errors import ParameterError
from .types import Array, Float
from .validate import array_field, require_arrays

__all__ = ["Heads", "SmoothHeads", "meanfield_scale"]


class Heads(eqx.Module):
    """Layer-wise head parameters ``θ_{ℓm} = (A_{ℓm}, V_{ℓm})``: the network's ``ν^{L,M}``.

    Args:
        A: attention matrices (``A = Kᵀ Q / √k``), ``(L, M, d, d)``.
        V: value matrices, ``(L, M, d, d)``.

    Layer ``ℓ`` covers depths ``s ∈ [ℓ/L, (ℓ+1)/L)``; every stage of a multi-stage scheme on that
    layer uses the same heads (``ν_s`` is constant there).
    """

    A: Float[Array, "L M d d"] = eqx.field(converter=array_field)
    V: Float[Array, "L M d d"] = eqx.field(converter=array_field)

    def __check_init__(self):
        require_arrays("Heads", A=self.A, V=self.V)
        if self.A.shape != self.V.shape or self.A.ndim != 4 or self.A.shape[-1] != self.A.shape[-2]:
            raise ParameterError(
                f"Heads: A has shape {tuple(self.A.shape)} and V has shape {tuple(self.V.shape)}; "
                "allowed equal shapes (L, M, d, d)."
            )

    @property
    def L(self) -> int:
        return self.A.shape[0]

    @property
    def M(self) -> int:
        return self.A.shape[1]

    @property
    def d(self) -> int:
        return self.A.shape[-1]

    def layer(self, l, c: float, L: int):
        """Heads ``(A, V)``, each ``(M, d, d)``, used at depth ``s = (l + c)/L``: layer ``l``'s."""
        del c, L
        return self.A[l], self.V[l]


class SmoothHeads(eqx.Module):
    """Heads varying smoothly with depth: ``θ_m(s) = θ⁰_m + sin(π s) θ¹_m`` (Model: flow).

    A smooth ``ν_s`` is what gives Heun and RK4 their orders in depth. Any depth discretisation
    ``L`` samples it: Euler at ``s_ℓ``, Heun also at ``s_{ℓ+1}``, RK4 also at ``s_ℓ + h/2``.

    Args:
        A0, A1, V0, V1: ``(M, d, d)`` each.
    """

    A0: Float[Array, "M d d"] = eqx.field(converter=array_field)
    A1: Float[Array, "M d d"] = eqx.field(converter=array_field)
    V0: Float[Array, "M d d"] = eqx.field(converter=array_field)
    V1: Float[Array, "M d d"] = eqx.field(converter=array_field)

    def __check_init__(self):
        require_arrays("SmoothHeads", A0=self.A0, A1=self.A1, V0=self.V0, V1=self.V1)
        shapes = {tuple(v.shape) for v in (self.A0, self.A1, self.V0, self.V1)}
        if len(shapes) != 1 or self.A0.ndim != 3:
            raise ParameterError(
                f"SmoothHeads: A0, A1, V0, V1 have shapes {sorted(shapes)}; allowed one shape "
                "(M, d, d)."
            )

    @property
    def M(self) -> int:
        return self.A0.shape[0]

    @property
    def d(self) -> int:
        return self.A0.shape[-1]

    def at(self, s):
        """``(A(s), V(s))``, each ``(M, d, d)``."""
        w = jnp.sin(jnp.pi * s)
        return self.A0 + w * self.A1, self.V0 + w * self.V1

    def layer(self, l, c: float, L: int):
        """Heads at depth ``s = (l + c)/L``."""
        return self.at((l + c) / L)

    def discretise(self, L: int) -> Heads:
        """The layer-wise network ``θ_{ℓm} = θ_m(ℓ/L)`` (what the Euler scheme sees)."""
        A, V = jax.vmap(self.at)(jnp.arange(L) / L)
        return Heads(A, V)


def meanfield_scale(theta: Heads) -> int:
    """The mean-field factor ``L M``: the COT gradient at the particles is ``L M ∇_θ R^{L,M}``.

    .. math::

        \\nabla_\\theta \\frac{\\delta R}{\\delta\\nu}(s_\\ell, \\theta_{\\ell m})
            = L M\\, \\nabla_{\\theta_{\\ell m}} R^{L,M}

    Each particle carries mass ``1/(LM)`` of ``ν^{L,M}``, so this one factor also gives the
    learning rate ``η L M`` and the norm ``‖g‖² = (1/LM) Σ |g_{ℓm}|²`` (Model: risk). Heads
    with leading batch axes (snapshots) are read from their last four axes ``(L, M, d, d)``.
    """
    L, M = theta.A.shape[-4:-2]
    return L * M

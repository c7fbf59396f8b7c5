r"""Attention heads :math:`\theta = (A, V)`: the network's layer-wise heads and heads smooth in
depth.

Model page, "One head". A network of :math:`L` layers of :math:`M` heads is the
measure :math:`\nu^{L,M}_s = \frac1M \sum_m \delta_{\theta_{\ell m}}` on
:math:`s \in [\ell/L, (\ell+1)/L)`; each particle carries mass :math:`1/(LM)`. Re-exported by
:mod:`.attention`.
"""

import equinox as eqx
import jax
import jax.numpy as jnp

from .errors import ParameterError
from .types import Array, Float
from .validate import array_field, require_arrays

__all__ = ["Heads", "SmoothHeads", "meanfield_scale"]


class Heads(eqx.Module):
    r"""Layer-wise head parameters :math:`\theta_{\ell m} = (A_{\ell m}, V_{\ell m})`: the network's
    :math:`\nu^{L,M}`.

    Args:
        A: attention matrices (:math:`A = K^\top Q / \sqrt k`), float64 array (L, M, d, d).
        V: value matrices, float64 array (L, M, d, d).

    Layer :math:`\ell` covers depths :math:`s \in [\ell/L, (\ell+1)/L)`; every stage of a
    multi-stage scheme on that layer uses the same heads (:math:`\nu_s` is constant there).
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

    def layer(self, l, c: float, L):
        """Heads :math:`(A, V)`, each float64 array (M, d, d), used at depth :math:`s = (l + c)/L`:
        layer :math:`l`'s."""
        del c, L
        return self.A[l], self.V[l]


class SmoothHeads(eqx.Module):
    r"""Heads varying smoothly with depth:
    :math:`\theta_m(s) = \theta^0_m + \sin(\pi s)\, \theta^1_m` (Model: flow).

    A smooth :math:`\nu_s` is what gives Heun and RK4 their orders in depth. Any depth
    discretisation :math:`L` samples it: Euler at :math:`s_\ell`, Heun also at :math:`s_{\ell+1}`,
    RK4 also at :math:`s_\ell + h/2`.

    Args:
        A0, A1, V0, V1: float64 array (M, d, d) each.
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
        """:math:`(A(s), V(s))`, each float64 array (M, d, d)."""
        w = jnp.sin(jnp.pi * s)
        return self.A0 + w * self.A1, self.V0 + w * self.V1

    def layer(self, l, c: float, L):
        """Heads at depth :math:`s = (l + c)/L`."""
        return self.at((l + c) / L)

    def discretise(self, L: int) -> Heads:
        r"""The layer-wise network :math:`\theta_{\ell m} = \theta_m(\ell/L)` (what the Euler scheme
        sees)."""
        A, V = jax.vmap(self.at)(jnp.arange(L) / L)
        return Heads(A, V)


def meanfield_scale(theta: Heads) -> int:
    r"""The mean-field factor :math:`LM`: the COT gradient at the particles is
    :math:`L M\, \nabla_\theta R^{L,M}`.

    .. math::

        \nabla_\theta \frac{\delta R}{\delta\nu}(s_\ell, \theta_{\ell m})
            = L M\, \nabla_{\theta_{\ell m}} R^{L,M}

    Each particle carries mass :math:`1/(LM)` of :math:`\nu^{L,M}`, so this one factor also gives
    the learning rate :math:`\eta L M` and the norm
    :math:`\|g\|^2 = \frac{1}{LM} \sum |g_{\ell m}|^2` (Model: risk). Heads with leading batch axes
    (snapshots) are read from their last four axes float64 array (L, M, d, d).
    """
    L, M = theta.A.shape[-4:-2]
    return L * M

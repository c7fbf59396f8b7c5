"""Attention heads θ = (A, V), the head Γ_θ(μ, x) and the mean-field field F(x, μ; ν_s).

Model page, "One head" and "Forward flow":

.. math::

    \\Gamma_\\theta(\\mu, x) = V\\, m_\\mu(Ax) = V\\, \\nabla \\mathrm{LSE}_\\mu(Ax),\\qquad
    F_s(x, \\mu) = \\int \\Gamma_\\theta(\\mu, x)\\, d\\nu_s(\\theta).

For a network, ``ν_s`` is ``(1/M) Σ_m δ_{θ_{ℓm}}`` on layer ``ℓ``: the head axis ``M`` is an array
axis contracted with ``einsum`` (faster than ``vmap`` over heads), and every logit goes through a
max-subtracted softmax with ``log a_j`` added, so padding (``a_j = 0``) is never a key.

:class:`LayerField` holds one layer's heads and its kernels, written for one context; the public
functions ``vmap`` them once over the batch.
"""

from functools import partial

import equinox as eqx
import jax
import jax.numpy as jnp

from .errors import ParameterError
from .measures import EmpiricalMeasure, lse_discrete
from .types import Array, Float

__all__ = [
    "Heads",
    "SmoothHeads",
    "meanfield_scale",
    "LayerField",
    "Linearisation",
    "lse",
    "tilted_stats",
    "head",
    "field",
    "field_vjp",
    "head_param_grad",
    "state_field",
    "state_vjp",
]


class Heads(eqx.Module):
    """Layer-wise head parameters ``θ_{ℓm} = (A_{ℓm}, V_{ℓm})``: the network's ``ν^{L,M}``.

    Args:
        A: attention matrices (``A = Kᵀ Q / √k``), ``(L, M, d, d)``.
        V: value matrices, ``(L, M, d, d)``.

    Layer ``ℓ`` covers depths ``s ∈ [ℓ/L, (ℓ+1)/L)``; every stage of a multi-stage scheme on that
    layer uses the same heads (``ν_s`` is constant there).
    """

    A: Float[Array, "L M d d"]
    V: Float[Array, "L M d d"]

    def __check_init__(self):
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
    """Heads varying smoothly with depth: ``θ_m(s) = θ⁰_m + sin(π s) θ¹_m`` (MATH.md §2).

    A smooth ``ν_s`` is what gives Heun and RK4 their orders in depth. Any depth discretisation
    ``L`` samples it: Euler at ``s_ℓ``, Heun also at ``s_{ℓ+1}``, RK4 also at ``s_ℓ + h/2``.

    Args:
        A0, A1, V0, V1: ``(M, d, d)`` each.
    """

    A0: Float[Array, "M d d"]
    A1: Float[Array, "M d d"]
    V0: Float[Array, "M d d"]
    V1: Float[Array, "M d d"]

    def __check_init__(self):
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
    learning rate ``η L M`` and the norm ``‖g‖² = (1/LM) Σ |g_{ℓm}|²`` (MATH.md §4, §8.3). Heads
    with leading batch axes (snapshots) are read from their last four axes ``(L, M, d, d)``.
    """
    L, M = theta.A.shape[-4:-2]
    return L * M


# ---------------------------------------------------------------- the field object
class Linearisation(eqx.Module):
    """The field of one layer at ``k`` points of one context and its transpose derivative.

    Attributes:
        phi: ``Φ(z) = F(z, μ)`` ``(k, d)``.
        lam_z: ``(∂_z F)ᵀ λ`` ``(k, d)``, the local term.
        lam_x: ``(∂_x F)ᵀ λ`` ``(n, d)``, the interaction term through the keys (zero if
            ``local_only``).
        gA, gV: per-head parameter gradients of ``Σ_k ⟨λ_k, Γ_θ(μ, z_k)⟩``, ``(M, d, d)``.
    """

    phi: Float[Array, "k d"]
    lam_z: Float[Array, "k d"]
    lam_x: Float[Array, "n d"]
    gA: Float[Array, "M d d"]
    gV: Float[Array, "M d d"]


class LayerField(eqx.Module):
    """One layer's heads ``(A, V)`` ``(M, d, d)`` acting on one context ``μ = Σ_j a_j δ_{x_j}``.

    .. math::

        F(z, \\mu) = \\frac1M \\sum_m V_m\\, m_\\mu(A_m z),\\qquad
        w_{mkj} = \\mathrm{softmax}_j(\\langle A_m z_k, x_j\\rangle + \\log a_j)

    :meth:`apply` (the field), :meth:`vjp` (its transpose derivative, MATH.md §3.3) and
    :meth:`param_grad` (§3.1d) share one kernel, :meth:`tilt`, the only place where the softmax
    and the tilted mean are written. Methods take one context (``x`` ``(n, d)``, ``loga``
    ``(n,)``, points ``z`` ``(k, d)``); the public functions below ``vmap`` them over the batch.
    """

    A: Float[Array, "M d d"]
    V: Float[Array, "M d d"] | None = None  # not needed by tilt and tilted_stats

    def tilt(self, x, loga, z):
        """``(Az, w, m)``: queries ``A_m z_k`` ``(M,k,d)``, weights ``w`` ``(M,k,n)``, tilted
        means ``m_{mk} = Σ_j w_{mkj} x_j`` ``(M,k,d)``."""
        # two contractions: one three-operand einsum measured 1.5x slower (benchmarks/forward.py)
        Az = jnp.einsum("mij,kj->mki", self.A, z)
        w = jax.nn.softmax(jnp.einsum("mki,ni->mkn", Az, x) + loga[None, None, :], axis=-1)
        m = jnp.einsum("mkn,ni->mki", w, x)
        return Az, w, m

    def apply(self, x, loga, z) -> Float[Array, "k d"]:
        """``F(z_k, μ)`` at every point (no covariance formed)."""
        _, _, m = self.tilt(x, loga, z)
        return jnp.einsum("mij,mkj->ki", self.V, m) / self.A.shape[0]

    def vjp(self, x, loga, z, lam, *, local_only: bool = False) -> Linearisation:
        """The field, ``(∂_z F)ᵀλ``, ``(∂_x F)ᵀλ`` and the head gradients at cotangents ``lam``.

        With ``u_k = Vᵀλ_k`` and ``C_k u_k = Σ_j w_kj (x_j − m_k)⟨x_j − m_k, u_k⟩``: local term
        ``(1/M) Σ_m Aᵀ C_k u_k``, interaction ``(1/M) Σ_m Σ_k w_kj (u_k + A z_k ⟨x_j − m_k, u_k⟩)``,
        ``∇_A G = Σ_k C_k u_k z_kᵀ``, ``∇_V G = Σ_k λ_k m_kᵀ`` (MATH.md §3.1d, §3.3).
        """
        A, V, M = self.A, self.V, self.A.shape[0]
        Az, w, m = self.tilt(x, loga, z)
        u = jnp.einsum("mji,kj->mki", V, lam)  # u_k = Vᵀ λ_k
        # s_kj = ⟨x_j − m_k, u_k⟩
        s = jnp.einsum("ni,mki->mkn", x, u) - jnp.sum(m * u, axis=-1)[..., None]
        ws = w * s
        Cu = jnp.einsum("mkn,ni->mki", ws, x) - jnp.sum(ws, axis=-1)[..., None] * m  # C_k u_k
        phi = jnp.einsum("mij,mkj->ki", V, m) / M
        lam_z = jnp.einsum("mji,mkj->ki", A, Cu) / M
        if local_only:
            lam_x = jnp.zeros_like(x)
        else:
            lam_x = (jnp.einsum("mkn,mki->ni", w, u) + jnp.einsum("mkn,mki->ni", ws, Az)) / M
        gA = jnp.einsum("mki,kj->mij", Cu, z)
        gV = jnp.einsum("ki,mkj->mij", lam, m)
        return Linearisation(phi=phi, lam_z=lam_z, lam_x=lam_x, gA=gA, gV=gV)

    def param_grad(self, x, loga, z, lam):
        """``(∇_A G, ∇_V G)`` per head, ``G(θ) = Σ_k ⟨λ_k, Γ_θ(μ, z_k)⟩`` (MATH.md §3.1d)."""
        out = self.vjp(x, loga, z, lam, local_only=True)
        return out.gA, out.gV

    def tilted_stats(self, x, loga, z):
        """``(w, m, C)`` with ``C_{mk} = Σ_j w_{mkj}(x_j − m_{mk})(x_j − m_{mk})ᵀ``."""
        _, w, m = self.tilt(x, loga, z)
        dx = x[None, None, :, :] - m[:, :, None, :]
        return w, m, jnp.einsum("mkn,mkni,mknj->mkij", w, dx, dx)


# ---------------------------------------------------------------- public, batched
def lse(mu: EmpiricalMeasure, q: Float[Array, "B d"]) -> Float[Array, " B"]:
    """``LSE_μ(q) = log Σ_k a_k e^{⟨q, x_k⟩}`` per context, max-subtracted.

    Model: eq. (lse). Finite for logits of any size in float64 (no ``exp`` of a raw logit).
    """
    return jax.vmap(lse_discrete)(mu.x, mu.loga, q)


def tilted_stats(A: Float[Array, "M d d"], mu: EmpiricalMeasure, z: Float[Array, "B k d"]):
    """Tilted statistics ``(w, m, C)`` of ``μ^{A z}`` for every head and point.

    Returns:
        ``w`` ``(B, M, k, n)``, ``m = ∇LSE_μ(Az)`` ``(B, M, k, d)``, ``C = ∇²LSE_μ(Az)``
        ``(B, M, k, d, d)``.
    """
    _check_points(A, mu, z, "tilted_stats")
    return jax.vmap(LayerField(A).tilted_stats)(mu.x, mu.loga, z)


def head(
    A: Float[Array, "d d"], V: Float[Array, "d d"], mu: EmpiricalMeasure, z: Float[Array, "B k d"]
):
    """One head ``Γ_θ(μ, z) = V m_μ(A z)`` at every point ``z``; returns ``(B, k, d)``.

    >>> mu = empirical(jnp.array([[0.0, 0.0], [1.0, 0.0]]))
    >>> head(jnp.eye(2), jnp.eye(2), mu, jnp.zeros((1, 1, 2)))[0, 0]
    Array([0.5, 0. ], dtype=float64)
    """
    return field(A[None], V[None], mu, z)


def field(
    A: Float[Array, "M d d"],
    V: Float[Array, "M d d"],
    mu: EmpiricalMeasure,
    z: Float[Array, "B k d"],
):
    """The multi-head field ``F(z, μ) = (1/M) Σ_m V_m m_μ(A_m z)``; returns ``(B, k, d)``.

    Model: eq. (field). Args: ``A, V`` heads of one layer ``(M, d, d)``; ``mu`` the keys;
    ``z`` the points where the field is evaluated (atoms and/or queries).
    """
    _check_points(A, mu, z, "field")
    return jax.vmap(LayerField(A, V).apply)(mu.x, mu.loga, z)


def state_field(A, V, z: Float[Array, "B nk d"], loga: Float[Array, "B n"], n: int):
    """``Φ(z)``: the field on a batch of network states, the first ``n`` points being the keys.

    Args: one layer's heads ``A, V`` ``(M, d, d)``; states ``z`` (atoms then queries); ``loga``
    the atoms' log-weights; ``n`` the number of atoms. Returns ``(B, n + k, d)``.
    """
    return jax.vmap(LayerField(A, V).apply)(z[:, :n], loga, z)


def state_vjp(A, V, z, loga, n: int, lam, *, local_only: bool = False):
    """``(Φ(z), DΦ(z)ᵀλ, ∇_A G, ∇_V G)`` on a batch of network states (MATH.md §3.3).

    The keys are the states' first ``n`` points, so ``DΦᵀλ`` is the local term plus the
    interaction term added to those rows; the head gradients are summed over the batch.
    """
    out = jax.vmap(partial(LayerField(A, V).vjp, local_only=local_only))(z[:, :n], loga, z, lam)
    return out.phi, out.lam_z.at[:, :n].add(out.lam_x), out.gA.sum(0), out.gV.sum(0)


def _check_points(A, mu, z, where):
    if z.ndim != 3 or z.shape[0] != mu.B or z.shape[-1] != mu.d or A.shape[-1] != mu.d:
        raise ParameterError(
            f"{where}: heads have shape {tuple(A.shape)}, mu.x has shape {tuple(mu.x.shape)} and "
            f"z has shape {tuple(z.shape)}; allowed heads (M, d, d), mu.x (B, n, d), z (B, k, d)."
        )


# ---------------------------------------------------------------- adjoint of the field (chapter 2)
def field_vjp(
    A: Float[Array, "M d d"],
    V: Float[Array, "M d d"],
    mu: EmpiricalMeasure,
    z: Float[Array, "B k d"],
    lam: Float[Array, "B k d"],
    *,
    local_only: bool = False,
):
    """Transpose of the field's derivative, ``(∂_z F)ᵀ λ`` and ``(∂_x F)ᵀ λ`` (MATH.md §3.3).

    With ``w_{kj} = softmax_j(⟨A z_k, x_j⟩ + log a_j)``, ``m_k``, ``C_k`` the tilted mean and
    covariance and ``u_k = Vᵀ λ_k``:

    .. math::

        [\\partial_z F^\\top\\lambda]_k
            = \\frac1M\\sum_m A^\\top C_k u_k \\quad\\text{(local)},\\qquad
        [\\partial_x F^\\top\\lambda]_j = \\frac1M\\sum_m\\sum_k w_{kj}
            \\big(u_k + A z_k\\langle x_j - m_k, u_k\\rangle\\big) \\quad\\text{(interaction)}.

    When the keys are the first ``n`` points (the network's state), ``DΦᵀλ`` is the first term
    plus the second added to those ``n`` rows. Model: eq. (adjoint).

    Args:
        A, V: one layer's heads ``(M, d, d)``.
        mu: the keys ``μ = Σ_j a_j δ_{x_j}``.
        z: points ``(B, k, d)`` where the field is evaluated.
        lam: cotangents ``λ`` ``(B, k, d)``.
        local_only: drop the interaction term (the frozen-context ablation; not a gradient).

    Returns:
        ``(lam_z (B, k, d), lam_x (B, n, d))``.

    Raises:
        ParameterError: inconsistent shapes.
    """
    _check_points(A, mu, z, "field_vjp")
    if lam.shape != z.shape:
        raise ParameterError(
            f"field_vjp: lam has shape {tuple(lam.shape)}; allowed the shape of z {tuple(z.shape)}."
        )
    out = jax.vmap(partial(LayerField(A, V).vjp, local_only=local_only))(mu.x, mu.loga, z, lam)
    return out.lam_z, out.lam_x


def head_param_grad(
    A: Float[Array, "M d d"],
    V: Float[Array, "M d d"],
    mu: EmpiricalMeasure,
    z: Float[Array, "B k d"],
    lam: Float[Array, "B k d"],
):
    """Per-head gradient of ``G(θ) = Σ_b Σ_k ⟨λ_k, Γ_θ(μ, z_k)⟩`` at each head (MATH.md §3.1d).

    .. math::

        \\nabla_V G = \\sum_k \\lambda_k\\, m_\\mu(Az_k)^\\top,\\qquad
        \\nabla_A G = \\sum_k C_\\mu(Az_k)\\, V^\\top\\lambda_k\\, z_k^\\top .

    With ``λ^{ℓ+1}`` and ``z^ℓ`` this is the COT gradient ``∇_θ δR/δν`` at layer ℓ's particles.

    Returns:
        ``(gA, gV)``, each ``(M, d, d)``, summed over the batch.

    Raises:
        ParameterError: inconsistent shapes.
    """
    _check_points(A, mu, z, "head_param_grad")
    if lam.shape != z.shape:
        raise ParameterError(
            f"head_param_grad: lam has shape {tuple(lam.shape)}; allowed the shape of z "
            f"{tuple(z.shape)}."
        )
    gA, gV = jax.vmap(LayerField(A, V).param_grad)(mu.x, mu.loga, z, lam)
    return gA.sum(0), gV.sum(0)

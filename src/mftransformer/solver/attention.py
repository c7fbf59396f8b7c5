"""Attention heads θ = (A, V), the head Γ_θ(μ, x) and the mean-field field F(x, μ; ν_s).

Model page, "One head" and "Forward flow":

.. math::

    \\Gamma_\\theta(\\mu, x) = V\\, m_\\mu(Ax) = V\\, \\nabla \\mathrm{LSE}_\\mu(Ax),\\qquad
    F_s(x, \\mu) = \\int \\Gamma_\\theta(\\mu, x)\\, d\\nu_s(\\theta).

For a network, ``ν_s`` is ``(1/M) Σ_m δ_{θ_{ℓm}}`` on layer ``ℓ``: the head axis ``M`` is an array
axis contracted with ``einsum`` (faster than ``vmap`` over heads), and every logit goes through a
max-subtracted softmax with ``log a_j`` added, so padding (``a_j = 0``) is never a key.

:class:`LayerField` holds one layer's heads and its kernels, written for one context; the public
functions ``vmap`` them once over the batch. Above a size threshold the kernels stream (memory
linear in ``n``, :mod:`.streaming`, keyword ``chunk``); the layer-level functions shard heads and
batch over a device mesh (:mod:`.sharding`, keyword ``mesh``).
"""

from functools import partial

import equinox as eqx
import jax
import jax.numpy as jnp

from .errors import ParameterError, check_choice
from .heads import Heads, SmoothHeads, meanfield_scale
from .measures import EmpiricalMeasure, lse_discrete
from .sharding import sharded
from .streaming import online_mean, over_points, resolve_chunk
from .types import Array, Float

__all__ = [
    "Heads",
    "SmoothHeads",
    "meanfield_scale",
    "LayerField",
    "Linearisation",
    "INTERACTION_PARTS",
    "dropped_parts",
    "interaction_weights",
    "lse",
    "tilted_stats",
    "head",
    "field",
    "field_vjp",
    "head_param_grad",
    "state_field",
    "state_vjp",
]


# ---------------------------------------------------------------- the field object
class Linearisation(eqx.Module):
    """The field of one layer at ``k`` points of one context and its transpose derivative.

    Attributes:
        phi: ``Φ(z) = F(z, μ)`` ``(k, d)``.
        lam_z: ``(∂_z F)ᵀ λ`` ``(k, d)``, the local term.
        lam_x: ``(∂_x F)ᵀ λ`` ``(n, d)``, the interaction term through the keys (zero if
            ``local_only``; only the points of weight ``sources`` feed it).
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

    :meth:`apply` (the field), :meth:`vjp` (its transpose derivative, Model: risk) and
    :meth:`param_grad` (§3.1d) share one kernel, :meth:`tilt`, the only place where the dense
    softmax and tilted mean are written (the streamed field's online softmax is
    :func:`~mftransformer.solver.streaming.online_mean`). Methods take one context (``x``
    ``(n, d)``, ``loga`` ``(n,)``, points ``z`` ``(k, d)``); the public functions below ``vmap``
    them over the batch.

    Attributes:
        chunk: 0 for the dense kernel, else the block size of the streamed one (:mod:`.streaming`).
        heads: the ``M`` of ``1/M`` when ``A`` holds a shard of the heads (None: ``A.shape[0]``).
    """

    A: Float[Array, "M d d"]
    V: Float[Array, "M d d"] | None = None  # not needed by tilt and tilted_stats
    chunk: int = eqx.field(static=True, default=0)
    heads: int | None = eqx.field(static=True, default=None)

    @property
    def scale(self) -> int:
        """The ``M`` of the field's ``1/M``."""
        return self.A.shape[0] if self.heads is None else self.heads

    def tilt(self, x, loga, z):
        """``(Az, w, m)``: queries ``A_m z_k`` ``(M,k,d)``, weights ``w`` ``(M,k,n)``, tilted
        means ``m_{mk} = Σ_j w_{mkj} x_j`` ``(M,k,d)``."""
        # two contractions: one three-operand einsum measured 1.5x slower (benchmarks/forward.py)
        Az = jnp.einsum("mij,kj->mki", self.A, z)
        w = jax.nn.softmax(jnp.einsum("mki,ni->mkn", Az, x) + loga[None, None, :], axis=-1)
        m = jnp.einsum("mkn,ni->mki", w, x)
        return Az, w, m

    def apply(self, x, loga, z) -> Float[Array, "k d"]:
        """``F(z_k, μ)`` at every point (no covariance formed); streamed if ``chunk``."""
        if self.chunk:

            def block(zc):
                Az = jnp.einsum("mij,kj->mki", self.A, zc)
                m = online_mean(Az, x, loga, self.chunk)
                return (jnp.einsum("mij,mkj->ki", self.V, m) / self.scale,), ()

            (phi,), _ = over_points(block, self.chunk, 1, 0, z)
            return phi
        _, _, m = self.tilt(x, loga, z)
        return jnp.einsum("mij,mkj->ki", self.V, m) / self.scale

    def vjp(self, x, loga, z, lam, *, local_only: bool = False, sources=None) -> Linearisation:
        r"""The field, :math:`(\partial_z F)^\top\lambda`, :math:`(\partial_x F)^\top\lambda`
        and the head gradients at cotangents ``lam`` (Model: risk).

        With :math:`u_k = V^\top\lambda_k` and
        :math:`C_k u_k = \sum_j w_{kj}(x_j - m_k)\langle x_j - m_k, u_k\rangle`:

        .. math::

            [\partial_z F^\top\lambda]_k = \frac1M\sum_m A^\top C_k u_k,\qquad
            [\partial_x F^\top\lambda]_j = \frac1M\sum_m\sum_k \sigma_k\, w_{kj}
                \big(u_k + A z_k\langle x_j - m_k, u_k\rangle\big),

            \nabla_A G = \sum_k C_k u_k z_k^\top,\qquad
            \nabla_V G = \sum_k \lambda_k m_k^\top .

        The weights :math:`\sigma_k` (``sources``, float64 array (k,); None: all 1) say which
        points' adjoints feed the interaction term (the ablations of chapter 2); ``local_only``
        drops that term entirely. Streamed over blocks of points if ``chunk`` (the last three are
        sums over points, carried).
        """
        if self.chunk:
            per_point = (z, lam) if sources is None else (z, lam, sources)

            def block(zc, lamc, *sc):
                out = self._vjp_dense(x, loga, zc, lamc, local_only, sc[0] if sc else None)
                return (out.phi, out.lam_z), (out.lam_x, out.gA, out.gV)

            (phi, lam_z), (lam_x, gA, gV) = over_points(block, self.chunk, 2, 3, *per_point)
            return Linearisation(phi=phi, lam_z=lam_z, lam_x=lam_x, gA=gA, gV=gV)
        return self._vjp_dense(x, loga, z, lam, local_only, sources)

    def _vjp_dense(self, x, loga, z, lam, local_only, sources):
        A, V, M = self.A, self.V, self.scale
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
            if sources is not None:  # σ_k: only the kept points' adjoints feed the keys
                w, ws = w * sources[None, :, None], ws * sources[None, :, None]
            lam_x = (jnp.einsum("mkn,mki->ni", w, u) + jnp.einsum("mkn,mki->ni", ws, Az)) / M
        gA = jnp.einsum("mki,kj->mij", Cu, z)
        gV = jnp.einsum("ki,mkj->mij", lam, m)
        return Linearisation(phi=phi, lam_z=lam_z, lam_x=lam_x, gA=gA, gV=gV)

    def param_grad(self, x, loga, z, lam):
        """``(∇_A G, ∇_V G)`` per head, ``G(θ) = Σ_k ⟨λ_k, Γ_θ(μ, z_k)⟩`` (Model: risk)."""
        out = self.vjp(x, loga, z, lam, local_only=True)
        return out.gA, out.gV

    def tilted_stats(self, x, loga, z):
        """``(w, m, C)`` with ``C_{mk} = Σ_j w_{mkj}(x_j − m_{mk})(x_j − m_{mk})ᵀ``: dense always
        (it returns ``w`` ``(M, k, n)`` itself)."""
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
    *,
    chunk: int | None = None,
):
    """The multi-head field ``F(z, μ) = (1/M) Σ_m V_m m_μ(A_m z)``; returns ``(B, k, d)``.

    Model: eq. (field). Args: ``A, V`` heads of one layer ``(M, d, d)``; ``mu`` the keys;
    ``z`` the points where the field is evaluated (atoms and/or queries); ``chunk`` None
    (automatic), 0 (dense) or a block size (streamed, :mod:`.streaming`).
    """
    _check_points(A, mu, z, "field")
    layer = LayerField(A, V, resolve_chunk(chunk, mu.n, "field"))
    return jax.vmap(layer.apply)(mu.x, mu.loga, z)


def state_field(
    A, V, z: Float[Array, "B nk d"], loga: Float[Array, "B n"], n: int, *, chunk=None, mesh=None
):
    """``Φ(z)``: the field on a batch of network states, the first ``n`` points being the keys.

    Args: one layer's heads ``A, V`` ``(M, d, d)``; states ``z`` (atoms then queries); ``loga``
    the atoms' log-weights; ``n`` the number of atoms; ``chunk`` as in :func:`field`; ``mesh``
    a resolved mesh or None (:func:`~mftransformer.solver.sharding.sharded`: the head sum is
    one ``psum``). Returns ``(B, n + k, d)``.
    """
    c, M = resolve_chunk(chunk, n, "state_field"), A.shape[0]

    def local(A, V, z, loga):
        return (jax.vmap(LayerField(A, V, c, M).apply)(z[:, :n], loga, z),), ()

    (phi,), _ = sharded(mesh, local, (A, V), (z, loga), (1, 0))
    return phi


def state_vjp(
    A, V, z, loga, n: int, lam, *, local_only: bool = False, keep=None, chunk=None, mesh=None
):
    """``(Φ(z), DΦ(z)ᵀλ, ∇_A G, ∇_V G)`` on a batch of network states (Model: risk).

    The keys are the states' first ``n`` points, so ``DΦᵀλ`` is the local term plus the
    interaction term added to those rows; the head gradients are summed over the batch.
    ``local_only`` drops the interaction term; ``keep`` (float64 array (2,), from
    :func:`interaction_weights`; None: both 1) weighs its two parts, the atoms' adjoints
    (token→token) and the queries' (query→token). ``chunk`` and ``mesh`` as in
    :func:`state_field` (the batch sum is a ``psum`` over ``"batch"``).
    """
    c, M = resolve_chunk(chunk, n, "state_vjp"), A.shape[0]
    sources = None
    if keep is not None and not local_only:  # σ_k: keep[0] on the atoms, keep[1] on the queries
        k = z.shape[1]
        sources = jnp.concatenate(
            [jnp.full(n, keep[0], z.dtype), jnp.full(k - n, keep[1], z.dtype)]
        )

    def local(A, V, z, loga, lam):
        vjp = partial(LayerField(A, V, c, M).vjp, local_only=local_only, sources=sources)
        out = jax.vmap(vjp)(z[:, :n], loga, z, lam)
        return (out.phi, out.lam_z.at[:, :n].add(out.lam_x)), (out.gA.sum(0), out.gV.sum(0))

    (phi, vjp), (gA, gV) = sharded(mesh, local, (A, V), (z, loga, lam), (2, 2))
    return phi, vjp, gA, gV


#: The two parts of the interaction (non-local) term of the adjoint, each droppable for the
#: ablations of chapter 2: the atoms' adjoints feeding the keys (``"token_to_token"``) and the
#: queries' adjoints feeding the keys (``"query_to_token"``).
INTERACTION_PARTS = ("token_to_token", "query_to_token")


def dropped_parts(drop=(), local_only: bool = False, where: str = "drop") -> tuple[str, ...]:
    """The interaction parts to drop, as a sorted tuple of :data:`INTERACTION_PARTS`.

    ``drop`` is one part, a sequence of parts, or empty; ``local_only=True`` drops both (the
    frozen-context adjoint).

    Raises:
        ParameterError: an unknown part (with a "did you mean").
    """
    parts = (drop,) if isinstance(drop, str) else tuple(drop)
    for part in parts:
        check_choice(where, "drop", part, INTERACTION_PARTS)
    if local_only:
        parts = INTERACTION_PARTS
    return tuple(p for p in INTERACTION_PARTS if p in parts)


def interaction_weights(drop: tuple[str, ...]):
    """The weights ``keep`` of :func:`state_vjp` for normalised parts ``drop``: None when
    nothing is dropped, else float64 array (2,), 0 for each dropped part (token→token,
    query→token). A traced array, so that every ablation shares one compiled program."""
    if not drop:
        return None
    return jnp.array([0.0 if part in drop else 1.0 for part in INTERACTION_PARTS])


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
    chunk: int | None = None,
):
    """Transpose of the field's derivative, ``(∂_z F)ᵀ λ`` and ``(∂_x F)ᵀ λ`` (Model: risk).

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
        chunk: None (automatic), 0 (dense) or a block size (streamed, :mod:`.streaming`).

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
    layer = LayerField(A, V, resolve_chunk(chunk, mu.n, "field_vjp"))
    out = jax.vmap(partial(layer.vjp, local_only=local_only))(mu.x, mu.loga, z, lam)
    return out.lam_z, out.lam_x


def head_param_grad(
    A: Float[Array, "M d d"],
    V: Float[Array, "M d d"],
    mu: EmpiricalMeasure,
    z: Float[Array, "B k d"],
    lam: Float[Array, "B k d"],
    *,
    chunk: int | None = None,
):
    """Per-head gradient of ``G(θ) = Σ_b Σ_k ⟨λ_k, Γ_θ(μ, z_k)⟩`` at each head (Model: risk).

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
    layer = LayerField(A, V, resolve_chunk(chunk, mu.n, "head_param_grad"))
    gA, gV = jax.vmap(layer.param_grad)(mu.x, mu.loga, z, lam)
    return gA.sum(0), gV.sum(0)

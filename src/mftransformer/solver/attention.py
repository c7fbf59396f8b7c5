r"""Attention heads :math:`\theta = (A, V)`, the head :math:`\Gamma_\theta(\mu, x)` and the
mean-field field :math:`F(x, \mu; \nu_s)`.

Model page, "One head" and "Forward flow":

.. math::

    \Gamma_\theta(\mu, x) = V\, m_\mu(Ax) = V\, \nabla \mathrm{LSE}_\mu(Ax),\qquad
    F_s(x, \mu) = \int \Gamma_\theta(\mu, x)\, d\nu_s(\theta).

For a network, :math:`\nu_s` is :math:`\frac1M \sum_m \delta_{\theta_{\ell m}}` on layer
:math:`\ell`: the head axis :math:`M` is an array axis contracted with ``einsum`` (faster than
``vmap`` over heads), and every logit goes through a max-subtracted softmax with :math:`\log a_j`
added, so padding (:math:`a_j = 0`) is never a key.

:class:`LayerField` holds one layer's heads and its kernels, written for one context; the public
functions ``vmap`` them once over the batch. Above a size threshold the kernels stream (memory
linear in :math:`n`, :mod:`.streaming`, keyword ``chunk``); the layer-level functions shard heads
and batch over a device mesh (:mod:`.sharding`, keyword ``mesh``).
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
    r"""The field of one layer at :math:`k` points of one context and its transpose derivative.

    Attributes:
        phi: :math:`\Phi(z) = F(z, \mu)`, float64 array (k, d).
        lam_z: :math:`(\partial_z F)^\top \lambda`, float64 array (k, d), the local term.
        lam_x: :math:`(\partial_x F)^\top \lambda`, float64 array (n, d), the interaction term
            through the keys (zero if ``local_only``; only the points of weight ``sources`` feed
            it).
        gA, gV: per-head parameter gradients of
            :math:`\sum_k \langle \lambda_k, \Gamma_\theta(\mu, z_k)\rangle`, float64 arrays
            (M, d, d).
    """

    phi: Float[Array, "k d"]
    lam_z: Float[Array, "k d"]
    lam_x: Float[Array, "n d"]
    gA: Float[Array, "M d d"]
    gV: Float[Array, "M d d"]


class LayerField(eqx.Module):
    r"""One layer's heads :math:`(A, V)`, float64 arrays (M, d, d), acting on one context
    :math:`\mu = \sum_j a_j \delta_{x_j}`.

    .. math::

        F(z, \mu) = \frac1M \sum_m V_m\, m_\mu(A_m z),\qquad
        w_{mkj} = \mathrm{softmax}_j(\langle A_m z_k, x_j\rangle + \log a_j)

    :meth:`apply` (the field), :meth:`vjp` (its transpose derivative, Model: risk) and
    :meth:`param_grad` (Model: risk) share one kernel, :meth:`tilt`, the only place where the
    dense softmax and tilted mean are written (the streamed field's online softmax is
    :func:`~mftransformer.solver.streaming.online_mean`). Methods take one context (``x`` float64
    array (n, d), ``loga`` float64 array (n,), points ``z`` float64 array (k, d)); the public
    functions below ``vmap`` them over the batch.

    Attributes:
        chunk: 0 for the dense kernel, else the block size of the streamed one (:mod:`.streaming`).
        heads: the :math:`M` of :math:`1/M` when ``A`` holds a shard of the heads (None:
            ``A.shape[0]``).
    """

    A: Float[Array, "M d d"]
    V: Float[Array, "M d d"] | None = None  # not needed by tilt and tilted_stats
    chunk: int = eqx.field(static=True, default=0)
    heads: int | None = eqx.field(static=True, default=None)

    @property
    def scale(self) -> int:
        """The :math:`M` of the field's :math:`1/M`."""
        return self.A.shape[0] if self.heads is None else self.heads

    def tilt(self, x, loga, z):
        r""":math:`(Az, w, m)`: queries :math:`A_m z_k`, float64 array (M, k, d), weights
        :math:`w`, float64 array (M, k, n), tilted means :math:`m_{mk} = \sum_j w_{mkj} x_j`,
        float64 array (M, k, d)."""
        # two contractions: one three-operand einsum measured 1.5x slower (benchmarks/forward.py)
        Az = jnp.einsum("mij,kj->mki", self.A, z)
        w = jax.nn.softmax(jnp.einsum("mki,ni->mkn", Az, x) + loga[None, None, :], axis=-1)
        m = jnp.einsum("mkn,ni->mki", w, x)
        return Az, w, m

    def apply(self, x, loga, z) -> Float[Array, "k d"]:
        r""":math:`F(z_k, \mu)` at every point (no covariance formed); streamed if ``chunk``."""
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
        r""":math:`(\nabla_A G, \nabla_V G)` per head,
        :math:`G(\theta) = \sum_k \langle \lambda_k, \Gamma_\theta(\mu, z_k)\rangle` (Model:
        risk)."""
        out = self.vjp(x, loga, z, lam, local_only=True)
        return out.gA, out.gV

    def tilted_stats(self, x, loga, z):
        r""":math:`(w, m, C)` with
        :math:`C_{mk} = \sum_j w_{mkj}(x_j - m_{mk})(x_j - m_{mk})^\top`: dense always (it returns
        :math:`w`, float64 array (M, k, n), itself)."""
        _, w, m = self.tilt(x, loga, z)
        dx = x[None, None, :, :] - m[:, :, None, :]
        return w, m, jnp.einsum("mkn,mkni,mknj->mkij", w, dx, dx)


# ---------------------------------------------------------------- public, batched
def lse(mu: EmpiricalMeasure, q: Float[Array, "B d"]) -> Float[Array, " B"]:
    r""":math:`\mathrm{LSE}_\mu(q) = \log \sum_k a_k e^{\langle q, x_k\rangle}` per context,
    max-subtracted.

    Model: eq. (lse). Finite for logits of any size in float64 (no ``exp`` of a raw logit).
    """
    return jax.vmap(lse_discrete)(mu.x, mu.loga, q)


def tilted_stats(A: Float[Array, "M d d"], mu: EmpiricalMeasure, z: Float[Array, "B k d"]):
    r"""Tilted statistics :math:`(w, m, C)` of :math:`\mu^{A z}` for every head and point.

    Returns:
        :math:`w`, float64 array (B, M, k, n), :math:`m = \nabla \mathrm{LSE}_\mu(Az)`, float64
        array (B, M, k, d), :math:`C = \nabla^2 \mathrm{LSE}_\mu(Az)`, float64 array
        (B, M, k, d, d).
    """
    _check_points(A, mu, z, "tilted_stats")
    return jax.vmap(LayerField(A).tilted_stats)(mu.x, mu.loga, z)


def head(
    A: Float[Array, "d d"], V: Float[Array, "d d"], mu: EmpiricalMeasure, z: Float[Array, "B k d"]
):
    r"""One head :math:`\Gamma_\theta(\mu, z) = V m_\mu(A z)` at every point :math:`z`; returns
    float64 array (B, k, d).

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
    r"""The multi-head field :math:`F(z, \mu) = \frac1M \sum_m V_m m_\mu(A_m z)`; returns float64
    array (B, k, d).

    Model: eq. (field). Args: ``A, V`` heads of one layer, float64 arrays (M, d, d); ``mu`` the
    keys; ``z`` the points where the field is evaluated (atoms and/or queries); ``chunk`` None
    (automatic), 0 (dense) or a block size (streamed, :mod:`.streaming`).
    """
    _check_points(A, mu, z, "field")
    layer = LayerField(A, V, resolve_chunk(chunk, mu.n, "field"))
    return jax.vmap(layer.apply)(mu.x, mu.loga, z)


def state_field(
    A, V, z: Float[Array, "B nk d"], loga: Float[Array, "B n"], n: int, *, chunk=None, mesh=None
):
    r""":math:`\Phi(z)`: the field on a batch of network states, the first :math:`n` points being
    the keys.

    Args: one layer's heads ``A, V``, float64 arrays (M, d, d); states ``z`` (atoms then queries);
    ``loga`` the atoms' log-weights; ``n`` the number of atoms; ``chunk`` as in :func:`field`;
    ``mesh`` a resolved mesh or None (:func:`~mftransformer.solver.sharding.sharded`: the head sum
    is one ``psum``). Returns float64 array (B, n + k, d).
    """
    c, M = resolve_chunk(chunk, n, "state_field"), A.shape[0]

    def local(A, V, z, loga):
        return (jax.vmap(LayerField(A, V, c, M).apply)(z[:, :n], loga, z),), ()

    (phi,), _ = sharded(mesh, local, (A, V), (z, loga), (1, 0))
    return phi


def state_vjp(
    A, V, z, loga, n: int, lam, *, local_only: bool = False, keep=None, chunk=None, mesh=None
):
    r""":math:`(\Phi(z), D\Phi(z)^\top\lambda, \nabla_A G, \nabla_V G)` on a batch of network
    states (Model: risk).

    The keys are the states' first :math:`n` points, so :math:`D\Phi^\top\lambda` is the local
    term plus the interaction term added to those rows; the head gradients are summed over the
    batch. ``local_only`` drops the interaction term; ``keep`` (float64 array (2,), from
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
    r"""Transpose of the field's derivative, :math:`(\partial_z F)^\top \lambda` and
    :math:`(\partial_x F)^\top \lambda` (Model: risk).

    With :math:`w_{kj} = \mathrm{softmax}_j(\langle A z_k, x_j\rangle + \log a_j)`, :math:`m_k`,
    :math:`C_k` the tilted mean and covariance and :math:`u_k = V^\top \lambda_k`:

    .. math::

        [\partial_z F^\top\lambda]_k
            = \frac1M\sum_m A^\top C_k u_k \quad\text{(local)},\qquad
        [\partial_x F^\top\lambda]_j = \frac1M\sum_m\sum_k w_{kj}
            \big(u_k + A z_k\langle x_j - m_k, u_k\rangle\big) \quad\text{(interaction)}.

    When the keys are the first :math:`n` points (the network's state), :math:`D\Phi^\top\lambda`
    is the first term plus the second added to those :math:`n` rows. Model: risk.

    Args:
        A, V: one layer's heads, float64 arrays (M, d, d).
        mu: the keys :math:`\mu = \sum_j a_j \delta_{x_j}`.
        z: points, float64 array (B, k, d), where the field is evaluated.
        lam: cotangents :math:`\lambda`, float64 array (B, k, d).
        local_only: drop the interaction term (the frozen-context ablation; not a gradient).
        chunk: None (automatic), 0 (dense) or a block size (streamed, :mod:`.streaming`).

    Returns:
        ``(lam_z, lam_x)``, float64 arrays (B, k, d) and (B, n, d).

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
    r"""Per-head gradient of
    :math:`G(\theta) = \sum_b \sum_k \langle \lambda_k, \Gamma_\theta(\mu, z_k)\rangle` at each
    head (Model: risk).

    .. math::

        \nabla_V G = \sum_k \lambda_k\, m_\mu(Az_k)^\top,\qquad
        \nabla_A G = \sum_k C_\mu(Az_k)\, V^\top\lambda_k\, z_k^\top .

    With :math:`\lambda^{\ell+1}` and :math:`z^\ell` this is the COT gradient
    :math:`\nabla_\theta \frac{\delta R}{\delta\nu}` at layer :math:`\ell`'s particles.

    Returns:
        ``(gA, gV)``, each float64 array (M, d, d), summed over the batch.

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

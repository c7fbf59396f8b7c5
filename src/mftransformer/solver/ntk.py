r"""The attention NTK on a data set, its silent-point closed form and mean-field limit
(model page, "NTK").

For task C (outputs :math:`Y_i = W X^i_1(\xi^i_0)`, rows :math:`(i, a) \mapsto i\, d_{\rm out} + a`)
the NTK of the depth-:math:`L`, width-:math:`M` network is

.. math::

    \mathbf K = L M\, J J^\top,\qquad J = \partial Y / \partial \Theta,
    \qquad \mathbf K = \mathbf K^V + \mathbf K^{QK}

(the :math:`V` and :math:`A` parts of :math:`J J^\top`). At the silent (mirrored) initialisation
the flow is the identity and, with :math:`w_a = W^\top e_a` and :math:`\mathbb E` the average over
the :math:`LM` heads,

.. math::

    \mathbf K^V_{(ia),(jb)} = \langle w_a, w_b\rangle\, \mathbb E \langle m_{\mu_i}(A\xi_i),
    m_{\mu_j}(A\xi_j)\rangle,\qquad
    \mathbf K^{QK}_{(ia),(jb)} = \langle \xi_i, \xi_j\rangle\,
    \mathbb E \langle C_{\mu_i}(A\xi_i) V^\top w_a, C_{\mu_j}(A\xi_j) V^\top w_b\rangle .

:math:`\mathbf K` is positive definite iff the LSEs of the (centred) contexts are linearly
independent modulo affine functions; :func:`~mftransformer.solver.lse_test.lse_independence` tests
that criterion directly on the measures, and :mod:`~mftransformer.solver.lazy` turns
:math:`\mathbf K` into the lazy predictions of training. Both are re-exported here
(``ntk.lse_independence``, ``ntk.lazy_prediction``, ...).
"""

import functools
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .attention import Heads, tilted_stats
from .errors import ParameterError, check_positive
from .forward import forward
from .laws import Discrete, laws_of
from .lazy import gd_rate, lazy_prediction, plateau
from .lse_test import (
    DEPENDENT_BELOW,
    INDEPENDENT_ABOVE,
    MAX_BYTES,
    LSEReport,
    lse_independence,
    projected_ratio,
    verdict,
)
from .measures import EmpiricalMeasure, require_measure
from .types import Array, Float
from .validate import as_float, check_heads, check_sizes

__all__ = [
    "NTK",
    "ntk_jacobian",
    "ntk_silent",
    "silent_features",
    "ntk_silent_prefixes",
    "feature_ratio",
    "ntk_infinite_width",
    "spectrum",
    "spectral_ratio",
    "rank_bound",
    # re-exported from lse_test and lazy
    "LSEReport",
    "lse_independence",
    "verdict",
    "projected_ratio",
    "DEPENDENT_BELOW",
    "INDEPENDENT_ABOVE",
    "MAX_BYTES",
    "ntk_jacobian_bytes",
    "gd_rate",
    "lazy_prediction",
    "plateau",
]


class NTK(eqx.Module):
    r"""An NTK Gram matrix and its two blocks, each float64 array (N d_out, N d_out), rows
    :math:`(i, a) \mapsto i\, d_{\rm out} + a`.

    Attributes:
        K: the full kernel :math:`\mathbf K^V + \mathbf K^{QK}`.
        K_V: the value block (derivatives in :math:`V`).
        K_QK: the query-key block (derivatives in :math:`A = K^\top Q/\sqrt k`).
    """

    K: Float[Array, "Nd Nd"]
    K_V: Float[Array, "Nd Nd"]
    K_QK: Float[Array, "Nd Nd"]


# ---------------------------------------------------------------- the network's NTK
def ntk_jacobian(theta: Heads, mu: EmpiricalMeasure, xi, W, *, max_bytes: int = MAX_BYTES) -> NTK:
    r""":math:`\mathbf K = L M\, J J^\top` of the Euler network from JAX derivatives, at any
    :math:`\theta`.

    .. math::

        \mathbf K_{\cdot, r} = L M\, J\,(J^\top e_r)

    Each column is a reverse-mode product :math:`J^\top e_r` (one gradient, ``jax.vjp``) pushed
    forward by ``jax.jvp``, in chunks of columns sized to ``max_bytes``: the full Jacobian, of
    shape (N d_out) × (2 L M d²), is never held.

    Args:
        theta: heads, float64 arrays (L, M, d, d).
        mu: contexts, B = N of them.
        xi: queries :math:`\xi_0`, float64 array (N, d).
        W: readout, float64 array (d_out, d).
        max_bytes: memory budget; the estimate is checked before anything is allocated.

    Returns:
        :class:`NTK`.

    Raises:
        ParameterError: inconsistent shapes, or a budget too small even for one column.
    """
    require_measure(mu, "ntk_jacobian")
    xi, W = _check_inputs(theta, mu.B, mu.d, xi, W, "ntk_jacobian", max_bytes)
    N, d_out = mu.B, W.shape[0]
    fixed, per_column = ntk_jacobian_bytes(N, mu.n, mu.d, d_out, theta.L, theta.M)
    chunk = min(N * d_out, (max_bytes - fixed) // per_column)
    if chunk < 1:
        raise ParameterError(
            f"ntk_jacobian: estimated memory {(fixed + per_column) / 2**30:.2f} GiB for "
            f"N = {N}, n = {mu.n}, L = {theta.L}, M = {theta.M}; allowed max_bytes = "
            f"{max_bytes / 2**30:.2f} GiB. Reduce N, n or M, or raise max_bytes."
        )
    cols_V, cols_A = [], []
    for start in range(0, N * d_out, chunk):
        rows = jnp.arange(start, min(start + chunk, N * d_out))
        kv, ka = _jacobian_columns(theta, mu, xi, W, rows)
        cols_V.append(kv)
        cols_A.append(ka)
    scale = theta.L * theta.M
    K_V = scale * jnp.concatenate(cols_V, axis=1)
    K_QK = scale * jnp.concatenate(cols_A, axis=1)
    return NTK(K_V + K_QK, K_V, K_QK)


def ntk_jacobian_bytes(N: int, n: int, d: int, d_out: int, L: int, M: int) -> tuple[int, int]:
    """Estimated float64 memory of :func:`ntk_jacobian`: ``(fixed, per_column)`` bytes, the
    kernel and inputs plus one Jacobian column of N d_out outputs; the Jacobian is formed in
    as many columns at a time as the budget allows (at least one)."""
    P = 2 * L * M * d * d
    per_column = 8 * (4 * P + 6 * N * M * (n + 1) * (n + d))
    fixed = 8 * (3 * (N * d_out) ** 2 + P + L * N * (n + 1) * d)
    return fixed, per_column


def ntk_silent(theta: Heads, mu, xi, W, *, max_bytes: int = MAX_BYTES) -> NTK:
    r"""The NTK at the silent point in closed form (Model: NTK), chunked over heads.

    .. math::

        \mathbf K^V_{(ia),(jb)} = \langle w_a, w_b\rangle \frac1{LM}\sum_h
        \langle m_{\mu_i}(A_h\xi_i), m_{\mu_j}(A_h\xi_j)\rangle,\qquad
        \mathbf K^{QK}_{(ia),(jb)} = \langle\xi_i,\xi_j\rangle \frac1{LM}\sum_h
        \langle C_{\mu_i} V_h^\top w_a, C_{\mu_j} V_h^\top w_b\rangle

    Args:
        theta: silent heads (``A[:, M/2+m] = A[:, m]``, ``V[:, M/2+m] = -V[:, m]``).
        mu: an :class:`EmpiricalMeasure` of N contexts, or a list of N laws (Gaussian, box,
            mixture: then :math:`m = \nabla \mathrm{LSE}` and :math:`C = \nabla^2 \mathrm{LSE}`
            are the laws' closed forms ``law.tilted``, i.e. the infinite-token model).
        xi: queries, float64 array (N, d); W: readout, float64 array (d_out, d).

    Raises:
        ParameterError: heads that are not silent, inconsistent shapes, or a memory estimate above
            ``max_bytes``.
    """
    laws = laws_of(mu, "ntk_silent")
    N, d = len(laws), laws[0].d
    xi, W = _check_inputs(theta, N, d, xi, W, "ntk_silent", max_bytes)
    A, V = _silent_halves(theta, "ntk_silent")
    A, V = A.reshape(-1, d, d), V.reshape(-1, d, d)
    H, d_out = A.shape[0], W.shape[0]
    xi_np, W_np = np.asarray(xi), np.asarray(W)
    n = max(law.x.shape[0] if isinstance(law, Discrete) else 2 for law in laws)
    per_head = 8 * (N * (d + 2 * d * d + d_out * d) + n * (d + 2))
    fixed = 8 * (3 * (N * d_out) ** 2 + 2 * N * N)
    chunk = min(H, (max_bytes - fixed) // per_head)
    if chunk < 1:
        raise ParameterError(
            f"ntk_silent: estimated memory {(fixed + per_head) / 2**30:.2f} GiB for N = {N}, "
            f"n = {n}, d_out = {d_out}; allowed max_bytes = {max_bytes / 2**30:.2f} GiB. "
            "Reduce N or n, or raise max_bytes."
        )
    G_V = np.zeros((N, N))
    G_QK = np.zeros((N, d_out, N, d_out))
    for start in range(0, H, chunk):
        Ah, Vh = A[start : start + chunk], V[start : start + chunk]
        m, C = _stats(laws, Ah, xi_np)
        u = np.einsum("ihcd,hed,ae->ihac", C, Vh, W_np, optimize=True)  # C_{hi} V_h^T w_a
        G_V += np.einsum("ihc,jhc->ij", m, m, optimize=True)
        G_QK += np.einsum("ihac,jhbc->iajb", u, u, optimize=True)
    K_V = np.kron(G_V, W_np @ W_np.T) / H
    K_QK = (G_QK * (xi_np @ xi_np.T)[:, None, :, None]).reshape(N * d_out, -1) / H
    return NTK(jnp.asarray(K_V + K_QK), jnp.asarray(K_V), jnp.asarray(K_QK))


def silent_features(theta: Heads, mu, xi, W) -> tuple[np.ndarray, np.ndarray]:
    r"""The NTK's features at the silent point, head by head (Model: NTK): the kernel is their
    Gram matrix, :math:`\mathbf K^V = \frac1H\sum_h \phi^V_h \phi^{V\top}_h` and
    :math:`\mathbf K^{QK} = \frac1H\sum_h \phi^{QK}_h \phi^{QK\top}_h` over the
    :math:`H = LM/2` first halves of the mirrored pairs, with

    .. math::

        \phi^V_{h,(ia),(ce)} = m_{\mu_i}(A_h\xi_i)_c\, W_{ae},\qquad
        \phi^{QK}_{h,(ia),(cf)} = \big(C_{\mu_i}(A_h\xi_i) V_h^\top w_a\big)_c\, \xi_{i,f}

    (the derivatives of the output :math:`Y_{i,a}` in :math:`V_h` and in :math:`A_h`).

    Args:
        theta: silent heads, ``L`` layers of ``M`` heads (``M`` even, mirrored halves).
        mu: N contexts (an :class:`EmpiricalMeasure` or a list of laws, as :func:`ntk_silent`).
        xi: queries, float64 array (N, d); W: readout, float64 array (d_out, d).

    Returns:
        ``(phi_V, phi_QK)``, float64 NumPy arrays (N d_out, L, M/2, d²), rows
        :math:`(i, a) \mapsto i\, d_{\rm out} + a`.

    Raises:
        ParameterError: heads that are not silent, or inconsistent shapes.
    """
    laws = laws_of(mu, "silent_features")
    N, d = len(laws), laws[0].d
    xi, W = _check_inputs(theta, N, d, xi, W, "silent_features", MAX_BYTES)
    A, V = _silent_halves(theta, "silent_features")
    L, half = A.shape[:2]
    xi_np, W_np = np.asarray(xi), np.asarray(W)
    m, C = _stats(laws, A.reshape(-1, d, d), xi_np)
    u = np.einsum("ihcd,hed,ae->ihac", C, V.reshape(-1, d, d), W_np, optimize=True)
    phi_V = np.einsum("ihc,ae->iahce", m, W_np, optimize=True)
    phi_QK = np.einsum("ihac,if->iahcf", u, xi_np, optimize=True)
    shape = (N * W_np.shape[0], L, half, d * d)
    return phi_V.reshape(shape), phi_QK.reshape(shape)


def ntk_silent_prefixes(theta: Heads, mu: EmpiricalMeasure, xi, W, Ps) -> np.ndarray:
    r"""The silent-point NTK of the first :math:`P` pairs of each layer, for every :math:`P` of
    ``Ps`` at once (Model: NTK): each layer is one independent draw of heads.

    .. math::

        \mathbf K_{P,\ell} = \frac1P \sum_{h < P} \phi_{\ell h} \phi_{\ell h}^\top,
        \qquad \phi = [\phi^V, \phi^{QK}],

    with the features of :func:`silent_features`: the formula of :func:`ntk_silent` for the
    one-layer network of those pairs, evaluated in one compiled pass, the sums over heads
    accumulated segment by segment between consecutive ``P`` (the mean-field experiment of
    chapter 4 draws many layers of up to :math:`10^5` pairs).

    Args:
        theta: silent heads, ``L`` layers (draws) of ``M`` heads; ``max(Ps) <= M/2``.
        mu: N contexts, an :class:`EmpiricalMeasure` (tokens given as atoms).
        xi: queries, float64 array (N, d); W: readout, float64 array (d_out, d).
        Ps: numbers of pairs, a sequence of positive integers.

    Returns:
        The kernels ``K``, float64 array (len(Ps), L, N d_out, N d_out), rows
        :math:`(i, a) \mapsto i\, d_{\rm out} + a`.

    Raises:
        ParameterError: heads that are not silent, too few pairs, or inconsistent shapes.
    """
    require_measure(mu, "ntk_silent_prefixes")
    xi, W = _check_inputs(theta, mu.B, mu.d, xi, W, "ntk_silent_prefixes", MAX_BYTES)
    A, V = _silent_halves(theta, "ntk_silent_prefixes")
    Ps = [int(P) for P in Ps]
    if not Ps or min(Ps) < 1 or max(Ps) > A.shape[1]:
        raise ParameterError(
            f"ntk_silent_prefixes: Ps = {Ps}; allowed 1 <= P <= M/2 = {A.shape[1]} pairs."
        )
    bounds = tuple(sorted(set(Ps)))
    A, V = jnp.asarray(A[:, : bounds[-1]]), jnp.asarray(V[:, : bounds[-1]])
    K = np.asarray(_prefix_kernels(A, V, mu, xi, W, bounds))
    return K[[bounds.index(P) for P in Ps]]


def feature_ratio(*features) -> float:
    r""":math:`\sigma_{\min}/\sigma_{\max}` of the feature matrix
    :math:`\Phi = [\phi^V, \phi^{QK}]` (rows: outputs; columns: every head and direction),
    by an SVD of :math:`\Phi` itself.

    Since :math:`\mathbf K \propto \Phi\Phi^\top`, this is
    :math:`\sqrt{\lambda_{\min}/\lambda_{\max}}` of the kernel, but without forming the Gram
    matrix, which squares the ratio and loses half the digits: the eigenvalues of
    :math:`\mathbf K` resolve ratios down to about :math:`10^{-16}`, i.e. feature ratios down to
    :math:`10^{-8}` only, while this resolves them down to float64 round-off. It is the kernel's
    counterpart of the LSE test's :math:`\rho` and takes the same verdict (:func:`verdict`).

    Args:
        features: one or more float64 arrays (N d_out, ...) (``phi_V``, ``phi_QK`` of
            :func:`silent_features`), joined along their columns.

    Returns:
        The ratio; 0 when :math:`\sigma_{\max} < 10^{-12}` or when there are fewer columns than
        rows (singular by rank).
    """
    Phi = np.concatenate([np.reshape(f, (np.shape(f)[0], -1)) for f in features], axis=1)
    if Phi.shape[0] > Phi.shape[1]:
        return 0.0
    sigma = np.linalg.svd(Phi / math.sqrt(Phi.shape[1]), compute_uv=False)
    return 0.0 if sigma[0] < DEPENDENT_BELOW else float(sigma[-1] / sigma[0])


def ntk_infinite_width(
    mu, xi0, W, *, sigma_A: float, sigma_V: float, nodes: int = 80, max_bytes: int = MAX_BYTES
) -> NTK:
    r"""The mean-field (:math:`M \to \infty`) NTK at the silent point for Gaussian heads (Model:
    NTK).

    .. math::

        \mathbf K^\infty_{(ia),(jb)} = (WW^\top)_{ab}\, \mathbb E_q\Big[
        \langle m_{\mu_i}(q), m_{\mu_j}(q)\rangle + |\xi_0|^2 \tfrac{\sigma_V^2}{d}\,
        \mathrm{tr}\big(C_{\mu_i}(q) C_{\mu_j}(q)\big)\Big],\quad
        q \sim \mathcal N(0, \tau^2 I_d),\ \tau^2 = \sigma_A^2|\xi_0|^2/d,

    by a tensor Gauss–Hermite rule with :math:`\mathrm{nodes}^d` points (heads i.i.d.,
    :math:`A \sim \mathcal N(0, \sigma_A^2/d)` and :math:`V \sim \mathcal N(0, \sigma_V^2/d)`
    entries, as :func:`~mftransformer.solver.tasks.silent_init`).

    Args:
        mu: N contexts (EmpiricalMeasure or laws); xi0: the common query, float64 array (d,);
            W: readout, float64 array (d_out, d).

    Raises:
        ParameterError: a rule of more than ``max_bytes`` points (:math:`\mathrm{nodes}^d` grows
            fast: use :math:`d \le 3`).
    """
    laws = laws_of(mu, "ntk_infinite_width")
    N, d = len(laws), laws[0].d
    check_sizes("ntk_infinite_width", nodes=nodes)
    check_positive("ntk_infinite_width", "sigma_A", sigma_A)
    check_positive("ntk_infinite_width", "sigma_V", sigma_V)
    xi0 = np.asarray(as_float(xi0, "ntk_infinite_width", "xi0"), float).reshape(-1)
    W = np.atleast_2d(np.asarray(as_float(W, "ntk_infinite_width", "W"), float))
    if xi0.shape != (d,) or W.shape[1] != d:
        raise ParameterError(
            f"ntk_infinite_width: xi0 has shape {tuple(xi0.shape)} and W {tuple(W.shape)}; "
            f"allowed xi0 ({d},) and W (d_out, {d})."
        )
    n_max = max(law.x.shape[0] if isinstance(law, Discrete) else 1 for law in laws)
    estimate = 8 * nodes**d * N * (n_max + 2 * d * d + d)
    if estimate > max_bytes:
        raise ParameterError(
            f"ntk_infinite_width: nodes**d = {nodes}**{d} Gauss-Hermite points need "
            f"{estimate / 2**30:.2f} GiB; allowed max_bytes = {max_bytes / 2**30:.2f} GiB. "
            "Use fewer nodes or d <= 3."
        )
    x1, w1 = np.polynomial.hermite_e.hermegauss(nodes)
    w1 = w1 / math.sqrt(2 * math.pi)
    grid = np.stack(np.meshgrid(*([x1] * d), indexing="ij"), -1).reshape(-1, d)
    weights = np.prod(np.stack(np.meshgrid(*([w1] * d), indexing="ij"), -1).reshape(-1, d), -1)
    tau = sigma_A * float(np.linalg.norm(xi0)) / math.sqrt(d)
    q = tau * grid
    stats = [law.tilted(q) for law in laws]
    m = np.stack([np.asarray(m) for m, _ in stats])  # (N, k, d)
    C = np.stack([np.asarray(C) for _, C in stats])  # (N, k, d, d)
    G_V = np.einsum("k,ikc,jkc->ij", weights, m, m, optimize=True)
    G_QK = (
        float(xi0 @ xi0)
        * sigma_V**2
        / d
        * np.einsum("k,ikab,jkba->ij", weights, C, C, optimize=True)
    )
    K_V, K_QK = np.kron(G_V, W @ W.T), np.kron(G_QK, W @ W.T)
    return NTK(jnp.asarray(K_V + K_QK), jnp.asarray(K_V), jnp.asarray(K_QK))


def spectrum(K) -> np.ndarray:
    r"""Eigenvalues, ascending, of the symmetric part :math:`(\mathbf K + \mathbf K^\top)/2`
    (``eigvalsh``).

    Raises:
        ParameterError: ``K`` not square, or with non-finite entries.
    """
    K = np.asarray(as_float(K, "spectrum", "K", ndim=2, allowed="a square matrix (n, n)"))
    if K.shape[0] != K.shape[1] or K.size == 0:
        raise ParameterError(f"spectrum: K has shape {K.shape}; allowed a square matrix (n, n).")
    return np.linalg.eigvalsh(0.5 * (K + K.T))


def spectral_ratio(K) -> float:
    r""":math:`\lambda_{\min} / \lambda_{\max}` of :func:`spectrum`, 0 for a zero kernel."""
    lam = spectrum(K)
    return float(lam[0] / lam[-1]) if lam[-1] > 0 else 0.0


def rank_bound(N: int, d_out: int, P: int, d: int) -> int:
    r""":math:`\min(N d_{\rm out}, P d (d_{\rm out} + 1))`: a head pair adds :math:`d\, d_{\rm out}`
    value and :math:`d` query-key directions (mirrors share the first and negate the second),
    Model: NTK."""
    return min(N * d_out, P * d * (d_out + 1))


# ---------------------------------------------------------------- private
def _check_inputs(theta, N, d, xi, W, where, max_bytes):
    check_heads(theta, where, (Heads,))
    check_positive(where, "max_bytes", max_bytes)
    xi = np.asarray(as_float(xi, where, "xi"), float)
    W = np.atleast_2d(np.asarray(as_float(W, where, "W"), float))
    if theta.d != d or xi.shape != (N, d) or W.ndim != 2 or W.shape[1] != d:
        raise ParameterError(
            f"{where}: heads have d = {theta.d}, xi has shape {tuple(xi.shape)} and W has shape "
            f"{tuple(W.shape)} for N = {N} inputs in d = {d}; allowed heads (L, M, {d}, {d}), "
            f"xi ({N}, {d}), W (d_out, {d})."
        )
    return jnp.asarray(xi), jnp.asarray(W)


@eqx.filter_jit
def _jacobian_columns(theta, mu, xi, W, rows):
    def outputs(th):
        return (forward(th, mu, xi, throw=False).queries[:, 0] @ W.T).reshape(-1)

    y, pullback = jax.vjp(outputs, theta)
    cot = jax.nn.one_hot(rows, y.shape[0], dtype=y.dtype)
    (g,) = jax.vmap(pullback)(cot)

    def push(gA, gV):
        return jax.jvp(outputs, (theta,), (Heads(gA, gV),))[1]

    zero = jnp.zeros_like(g.A)
    k_V = jax.vmap(push)(zero, g.V)
    k_A = jax.vmap(push)(g.A, zero)
    return k_V.T, k_A.T


@functools.partial(jax.jit, static_argnums=(5,))
def _prefix_kernels(A, V, mu, xi, W, bounds):
    """The kernels of :func:`ntk_silent_prefixes`, float64 array
    (len(bounds), L, N d_out, N d_out)."""
    L, P, d = A.shape[0], A.shape[1], A.shape[-1]
    N, d_out = xi.shape[0], W.shape[0]
    _, m, C = tilted_stats(A.reshape(-1, d, d), mu, xi[:, None, :])
    m, C = m[:, :, 0].reshape(N, L, P, d), C[:, :, 0].reshape(N, L, P, d, d)
    u = jnp.einsum("ilhcd,lhed,ae->ilhac", C, V, W)  # C_{μ_i}(A_h ξ_i) V_hᵀ w_a
    WW, xx = W @ W.T, xi @ xi.T
    G_V, G_QK, start, out = 0.0, 0.0, 0, []
    for stop in bounds:
        m_s, u_s = m[:, :, start:stop], u[:, :, start:stop]
        G_V = G_V + jnp.einsum("ilhc,jlhc->lij", m_s, m_s)
        G_QK = G_QK + jnp.einsum("ilhac,jlhbc->liajb", u_s, u_s)
        K_V = G_V[:, :, None, :, None] * WW[None, None, :, None, :]
        K_QK = G_QK * xx[None, :, None, :, None]
        out.append((K_V + K_QK).reshape(L, N * d_out, N * d_out) / stop)
        start = stop
    return jnp.stack(out)


def _silent_halves(theta, where):
    """The first halves ``(A, V)``, float64 arrays (L, M/2, d, d), of silent heads (NumPy):
    mirrored heads contribute equally to both blocks, so they suffice."""
    A, V = np.asarray(theta.A), np.asarray(theta.V)
    half = theta.M // 2
    if theta.M % 2 or not (
        np.array_equal(A[:, :half], A[:, half:]) and np.array_equal(V[:, :half], -V[:, half:])
    ):
        raise ParameterError(
            f"{where}: theta is not at the silent point (allowed: even M with A[:, M/2+m] = "
            "A[:, m] and V[:, M/2+m] = -V[:, m]); use ntk_jacobian at other points."
        )
    return A[:, :half], V[:, :half]


def _stats(laws, A, xi):
    r"""Tilted means, float64 array (N, H, d), and covariances, float64 array (N, H, d, d), at
    :math:`q = A_h \xi_i` (NumPy)."""
    stats = [law.tilted(np.einsum("hcd,d->hc", A, x)) for law, x in zip(laws, xi, strict=True)]
    return np.stack([np.asarray(m) for m, _ in stats]), np.stack([np.asarray(C) for _, C in stats])

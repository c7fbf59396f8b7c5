r"""Token distributions μ: weighted empirical measures, samplers and closed-form log-sum-exps.

An empirical measure is :math:`\mu = \sum_k a_k \delta_{x_k}` stored batched as ``x`` float64 array
(B, n, d) and ``a`` float64 array (B, n) (model page, "Tokens and inputs"). A zero weight is
padding: :math:`\log a = -\infty` there, so contexts of different sizes share one batch and padded
atoms never act as keys.

Continuous contexts (Gaussian, uniform box, Gaussian mixture) enter either through :math:`n` i.i.d.
samples with weights :math:`1/n` or through their closed-form
:math:`\mathrm{LSE}_\mu(q) = \log \int e^{\langle q, y\rangle}\, d\mu(y)`.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .errors import ParameterError, is_traced
from .types import Array, Float
from .validate import (
    WEIGHT_SUM_ATOL,
    array_field,
    as_float,
    check_finite,
    check_sizes,
    check_tokens,
    check_weights,
)

__all__ = [
    "WEIGHT_SUM_ATOL",
    "EmpiricalMeasure",
    "log_weights",
    "check_weights",
    "empirical",
    "sample_gaussian",
    "sample_box",
    "sample_mixture",
    "sample_cloud",
    "pad",
    "center",
    "translate",
    "convolve",
    "lse_discrete",
    "lse_gaussian",
    "lse_box",
    "lse_mixture",
    "mixture_arrays",
    "require_measure",
]


class EmpiricalMeasure(eqx.Module):
    r"""A batch of B weighted point clouds :math:`\mu_b = \sum_k a_{bk} \delta_{x_{bk}}`.

    Args:
        x: atoms, float64 array (B, n, d).
        a: weights, float64 array (B, n), non-negative, each row summing to one (zero = padding).
    """

    x: Float[Array, "B n d"] = eqx.field(converter=array_field)
    a: Float[Array, "B n"] = eqx.field(converter=array_field)

    def __check_init__(self):
        for name in ("x", "a"):
            value = getattr(self, name)
            dtype = getattr(value, "dtype", None)
            if not hasattr(value, "shape") or dtype is None or np.dtype(dtype).kind not in "iuf":
                shown = "None" if value is None else f"of type {type(value).__name__} ({dtype})"
                raise ParameterError(
                    f"EmpiricalMeasure: {name} = {shown}; allowed an array of real numbers "
                    "(x (B, n, d), a (B, n))."
                )
        if len(self.x.shape) != 3 or len(self.a.shape) != 2 or self.x.shape[:2] != self.a.shape:
            raise ParameterError(
                f"EmpiricalMeasure: x has shape {tuple(self.x.shape)} and a has shape "
                f"{tuple(self.a.shape)}; allowed x (B, n, d) with a (B, n)."
            )
        if isinstance(self.x, jax.Array | np.ndarray) and not is_traced(self.x):
            check_finite(self.x, "EmpiricalMeasure", "x")
        if isinstance(self.a, jax.Array | np.ndarray) and not is_traced(self.a):
            check_weights(self.a, "EmpiricalMeasure", "Normalise a by its row sums.")

    @property
    def loga(self) -> Float[Array, "B n"]:
        r""":math:`\log a` with :math:`-\infty` on padding (:func:`log_weights`)."""
        return log_weights(self.a)

    @property
    def B(self) -> int:
        return self.x.shape[0]

    @property
    def n(self) -> int:
        return self.x.shape[1]

    @property
    def d(self) -> int:
        return self.x.shape[2]

    def mean(self) -> Float[Array, "B d"]:
        r"""The barycentre :math:`m_\mu = \sum_k a_k x_k` of each context."""
        return jnp.einsum("bn,bnd->bd", self.a, self.x)


def log_weights(a):
    r""":math:`\log a` with :math:`-\infty` where :math:`a = 0` (padding), safe to differentiate (no
    NaN there).

    .. math::

        \log a_k \ (a_k > 0),\qquad -\infty\ (a_k = 0)
    """
    positive = a > 0
    return jnp.where(positive, jnp.log(jnp.where(positive, a, 1.0)), -jnp.inf)


def empirical(x, a=None) -> EmpiricalMeasure:
    """Build a validated :class:`EmpiricalMeasure` from arrays.

    Args:
        x: atoms, a float64 array (n, d) (one context) or (B, n, d).
        a: weights, a float64 array (n,) or (B, n); uniform :math:`1/n` if omitted. Must
            be non-negative and sum to one per context.

    Raises:
        ParameterError: shapes that do not match (both are named) or invalid weights.

    >>> mu = empirical(jnp.zeros((3, 2)))
    >>> mu.x.shape, mu.a.shape
    ((1, 3, 2), (1, 3))
    """
    x = as_float(x, "empirical", "x", ndim=(2, 3), allowed="(n, d) or (B, n, d)")
    if x.ndim == 2:
        x = x[None]
    check_tokens(x.shape, "empirical")
    if a is None:
        a = jnp.full(x.shape[:2], 1.0 / x.shape[1], dtype=x.dtype)
    a = as_float(a, "empirical", "a", ndim=(1, 2), allowed=f"{x.shape[1:2]} or {x.shape[:2]}")
    a = jnp.asarray(a, dtype=x.dtype)
    if a.ndim == 1:
        a = a[None]
    if a.shape != x.shape[:2]:
        raise ParameterError(
            f"empirical: x has shape {tuple(x.shape)} but a has shape {tuple(a.shape)}; "
            f"allowed a of shape {tuple(x.shape[:2])} (one weight per atom)."
        )
    check_weights(a, "empirical", "Normalise a by its row sums.")
    return EmpiricalMeasure(x, a)


# ---------------------------------------------------------------- samplers
def sample_gaussian(key, B: int, n: int, d: int, mean=None, cov=None) -> EmpiricalMeasure:
    r"""n i.i.d. samples of :math:`\mathcal N(\mathrm{mean}, \mathrm{cov})` per context, weights
    :math:`1/n`.

    Args:
        key: a ``jax.random`` key.
        B, n, d: contexts, tokens, dimension.
        mean: float64 array (d,) or (B, d); zero by default.
        cov: float64 array (d, d); identity by default.
    """
    check_sizes("sample_gaussian", B=B, n=n, d=d)
    mean = jnp.zeros(d) if mean is None else _vector("sample_gaussian", "mean", mean, d, B)
    if cov is None:
        cov = jnp.eye(d)
    else:
        cov = as_float(cov, "sample_gaussian", "cov", ndim=2, allowed=f"({d}, {d})")
        if cov.shape != (d, d):
            raise ParameterError(
                f"sample_gaussian: cov has shape {tuple(cov.shape)}; allowed ({d}, {d})."
            )
    chol = jnp.linalg.cholesky(cov)
    g = jax.random.normal(key, (B, n, d))
    x = g @ chol.T + jnp.broadcast_to(mean, (B, d))[:, None, :]
    return EmpiricalMeasure(x, jnp.full((B, n), 1.0 / n))


def sample_box(key, B: int, n: int, low, high) -> EmpiricalMeasure:
    r"""n i.i.d. uniform samples of the box :math:`\prod_j [\mathrm{low}_j, \mathrm{high}_j]` per
    context."""
    check_sizes("sample_box", B=B, n=n)
    low = jnp.atleast_1d(as_float(low, "sample_box", "low", ndim=(0, 1)))
    high = jnp.atleast_1d(as_float(high, "sample_box", "high", ndim=(0, 1)))
    if low.shape != high.shape or np.any(np.asarray(high) < np.asarray(low)):
        raise ParameterError(
            f"sample_box: low has shape {tuple(low.shape)} and high {tuple(high.shape)}; "
            "allowed equal shapes (d,) with low <= high."
        )
    u = jax.random.uniform(key, (B, n, low.shape[-1]))
    return EmpiricalMeasure(
        low[None, None, :] + (high - low)[None, None, :] * u, jnp.full((B, n), 1.0 / n)
    )


def sample_mixture(key, B: int, n: int, weights, means, covs) -> EmpiricalMeasure:
    r"""n i.i.d. samples of the Gaussian mixture :math:`\sum_c \pi_c \mathcal N(m_c, \Sigma_c)` per
    context.

    Args:
        weights: float64 array (K,) mixture weights π; means: float64 array (K, d); covs: float64
            array (K, d, d).
    """
    check_sizes("sample_mixture", B=B, n=n)
    weights, means, covs = mixture_arrays("sample_mixture", weights, means, covs)
    k_comp, k_noise = jax.random.split(key)
    comp = jax.random.categorical(k_comp, jnp.log(weights), shape=(B, n))
    chol = jnp.linalg.cholesky(covs)
    g = jax.random.normal(k_noise, (B, n, means.shape[-1]))
    x = means[comp] + jnp.einsum("bnij,bnj->bni", chol[comp], g)
    return EmpiricalMeasure(x, jnp.full((B, n), 1.0 / n))


def sample_cloud(key, B: int, n: int, d: int, scale: float = 1.0) -> EmpiricalMeasure:
    r"""Discrete contexts: n atoms :math:`\sim \mathcal N(0, \mathrm{scale}^2 I)` with Dirichlet(1)
    weights."""
    check_sizes("sample_cloud", B=B, n=n, d=d)
    k_x, k_a = jax.random.split(key)
    x = scale * jax.random.normal(k_x, (B, n, d))
    a = jax.random.dirichlet(k_a, jnp.ones(n), shape=(B,))
    return EmpiricalMeasure(x, a)


# ---------------------------------------------------------------- operations
def pad(mu: EmpiricalMeasure, n: int) -> EmpiricalMeasure:
    """Append zero-weight atoms (at the origin) up to :math:`n` atoms per context."""
    extra = n - mu.n
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or extra < 0:
        raise ParameterError(f"pad: n = {n}; allowed n >= {mu.n} (the current number of atoms).")
    x = jnp.concatenate([mu.x, jnp.zeros((mu.B, extra, mu.d), mu.x.dtype)], axis=1)
    a = jnp.concatenate([mu.a, jnp.zeros((mu.B, extra), mu.a.dtype)], axis=1)
    return EmpiricalMeasure(x, a)


def center(mu: EmpiricalMeasure) -> EmpiricalMeasure:
    r"""Centred contexts :math:`(\cdot - m_\mu)_\sharp \mu` (model page, centring)."""
    return EmpiricalMeasure(mu.x - mu.mean()[:, None, :], mu.a)


def translate(mu: EmpiricalMeasure, b) -> EmpiricalMeasure:
    r"""Translate every atom by :math:`b` (float64 array (d,) or (B, d)): :math:`\mathrm{LSE}` gains
    :math:`\langle b, q\rangle`."""
    b = _vector("translate", "b", b, mu.d, mu.B).astype(mu.x.dtype)
    b = jnp.broadcast_to(b, (mu.B, mu.d))
    return EmpiricalMeasure(mu.x + b[:, None, :], mu.a)


def convolve(mu: EmpiricalMeasure, nu: EmpiricalMeasure) -> EmpiricalMeasure:
    r"""The convolution :math:`\mu * \nu` (atoms :math:`x_j + y_k`, weights :math:`a_j b_k`): LSEs
    add."""
    x = (mu.x[:, :, None, :] + nu.x[:, None, :, :]).reshape(mu.B, -1, mu.d)
    a = (mu.a[:, :, None] * nu.a[:, None, :]).reshape(mu.B, -1)
    return EmpiricalMeasure(x, a)


# ---------------------------------------------------------------- closed-form LSEs
def lse_discrete(x: Float[Array, "n d"], loga: Float[Array, " n"], q: Float[Array, " d"]):
    r""":math:`\mathrm{LSE}_\mu(q) = \log \sum_k a_k e^{\langle q, x_k\rangle}`, max-subtracted
    (:math:`\log a = -\infty` on padding)."""
    return jax.nn.logsumexp(x @ q + loga)


def lse_gaussian(m: Float[Array, " d"], Sigma: Float[Array, "d d"], q: Float[Array, " d"]):
    r""":math:`\mathrm{LSE}_{\mathcal N(m, \Sigma)}(q) = \langle m, q\rangle + \tfrac12 q^\top
    \Sigma q`."""
    return m @ q + 0.5 * q @ Sigma @ q


#: below this :math:`|t|` the LSE of an interval is its Taylor series (see :func:`_log_sinhc`).
_SERIES_BELOW = 0.1


def _log_sinhc(t):
    r""":math:`\varphi(t) = \log\bigl((e^t - 1)/t\bigr)` stably:
    :math:`\max(t, 0) + \log\bigl(-\mathrm{expm1}(-|t|)/|t|\bigr)`, φ(0) = 0.

    For :math:`|t| < 0.1`, :math:`\varphi(t) = t/2 + \sum_k B_{2k} t^{2k} / \bigl(2k\,(2k)!\bigr)`
    up to :math:`t^{10}` (the next term is below 1e-18 there): the closed form is exact in value,
    but its second derivative cancels like :math:`\varepsilon/t^2`, and the tilted covariance of a
    box is ``jax.hessian`` of this function.
    """
    at = jnp.abs(t)
    safe = jnp.where(at > _SERIES_BELOW, at, 1.0)
    t2 = t * t
    series = 0.5 * t + t2 * (
        1 / 24 + t2 * (-1 / 2880 + t2 * (1 / 181440 + t2 * (-1 / 9676800 + t2 * 5 / 2395008000)))
    )
    return jnp.where(
        at > _SERIES_BELOW, jnp.maximum(t, 0.0) + jnp.log(-jnp.expm1(-safe) / safe), series
    )


def lse_box(low: Float[Array, " d"], high: Float[Array, " d"], q: Float[Array, " d"]):
    r"""LSE of the uniform law on the box :math:`\prod_j [\mathrm{low}_j, \mathrm{high}_j]`:
    :math:`\sum_j \mathrm{low}_j q_j + \varphi(\ell_j q_j)`."""
    low, high = jnp.asarray(low, float), jnp.asarray(high, float)
    return jnp.sum(low * q + _log_sinhc((high - low) * q))


def lse_mixture(weights, means, covs, q):
    r"""LSE of :math:`\sum_c \pi_c \mathcal N(m_c, \Sigma_c)`:
    :math:`\operatorname{logsumexp}_c\bigl(\log \pi_c + \langle m_c, q\rangle + \tfrac12 q^\top
    \Sigma_c q\bigr)`."""
    weights, means, covs = (jnp.asarray(v, float) for v in (weights, means, covs))
    return jax.nn.logsumexp(
        jnp.log(weights) + means @ q + 0.5 * jnp.einsum("i,cij,j->c", q, covs, q)
    )


def mixture_arrays(where: str, weights, means, covs):
    """Validated mixture arrays, all finite: weights, a float64 array (K,) summing to one;
    means, (K, d); covs, (K, d, d)."""
    weights = as_float(weights, where, "weights", ndim=1, allowed="(K,)")
    means = as_float(means, where, "means", ndim=2, allowed="(K, d)")
    covs = as_float(covs, where, "covs", ndim=3, allowed="(K, d, d)")
    K, d = means.shape
    if weights.shape != (K,) or covs.shape != (K, d, d):
        raise ParameterError(
            f"{where}: weights {tuple(weights.shape)}, means {tuple(means.shape)}, covs "
            f"{tuple(covs.shape)}; allowed (K,), (K, d), (K, d, d) with one K and d."
        )
    check_weights(weights, where, "Normalise the mixture weights.", name="weights")
    return weights, means, covs


def _vector(where, name, value, d, B):
    value = as_float(value, where, name, ndim=(1, 2), allowed=f"({d},) or ({B}, {d})")
    if value.shape not in ((d,), (B, d)):
        raise ParameterError(
            f"{where}: {name} has shape {tuple(value.shape)}; allowed ({d},) or ({B}, {d})."
        )
    return value


def require_measure(mu, where: str, name: str = "mu") -> EmpiricalMeasure:
    """``mu`` if it is an :class:`EmpiricalMeasure`; a :class:`ParameterError` naming its type
    (and the constructor to use) otherwise."""
    if not isinstance(mu, EmpiricalMeasure):
        raise ParameterError(
            f"{where}: {name} of type {type(mu).__name__}; allowed EmpiricalMeasure. Build it "
            "with mft.empirical(x, a)."
        )
    return mu

r"""Token laws given exactly: atoms, Gaussians, boxes, Gaussian mixtures (Model: heads).

A *law* is one context :math:`\mu`. Every law has the same small interface:

.. math::

    \mathrm{LSE}_\mu(q) = \log \int e^{\langle q, y\rangle}\, d\mu(y),\qquad
    m_\mu(q) = \nabla \mathrm{LSE}_\mu(q),\qquad C_\mu(q) = \nabla^2 \mathrm{LSE}_\mu(q),

:meth:`Law.lse`, :meth:`Law.tilted` (:math:`(m, C)`), :meth:`Law.mean`
(:math:`m_\mu = \int y\, d\mu`), :meth:`Law.centred` (:math:`(\cdot - m_\mu)_\sharp \mu`) and
:meth:`Law.radius` (how far :math:`\mu` spreads around its mean: it sets the scale of the LSE test's
queries). ``lse`` and ``tilted`` take one query, a float64 array (d,), or a batch, a float64
array (..., d).

The log-sum-exps are the closed forms of :mod:`~mftransformer.solver.measures` (one
implementation each, all max-subtracted). The tilted statistics of atoms are the softmax
statistics of :func:`~mftransformer.solver.attention.tilted_stats`, those of a Gaussian are
:math:`(m + \Sigma q, \Sigma)`; for boxes and mixtures they are ``jax.grad`` and ``jax.hessian`` of
the LSE. Arrays are JAX arrays, float64 when the caller has enabled it (``mft.configure()``).
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .attention import tilted_stats
from .errors import ParameterError
from .measures import (
    EmpiricalMeasure,
    center,
    convolve,
    log_weights,
    lse_box,
    lse_discrete,
    lse_gaussian,
    lse_mixture,
    pad,
)
from .types import Array, Float
from .validate import as_float, as_queries, check_arrays, check_law, check_sizes, float_field

__all__ = [
    "Law",
    "Discrete",
    "Gaussian",
    "Box",
    "Mixture",
    "laws_of",
    "stack",
    "sample",
    "dirac",
    "bernoulli",
    "binomial",
    "convolution",
    "generator",
]

#: query arrays may be NumPy or JAX
_In = Array | np.ndarray


class Law(eqx.Module):
    r"""One context :math:`\mu` given exactly. Subclasses write ``_lse`` for one query and may write
    a closed-form ``_tilted`` (one query) or ``_tilted_batch`` (queries float64 array (K, d)); the
    default is ``(jax.grad, jax.hessian)`` of ``_lse``. Evaluations are compiled once per kind of
    law and shape (``_lse_batch``, ``_tilted_of_batch``), and so is ``centred``: a chapter meets
    many small shapes, and eager dispatch would compile every primitive for each. ``radius`` is a
    host-side float, computed with NumPy."""

    @property
    def d(self) -> int:
        """The dimension of the tokens."""
        raise NotImplementedError

    def _lse(self, q):
        raise NotImplementedError

    def mean(self):
        r"""The mean :math:`m_\mu = \int y\, d\mu(y)`, float64 array (d,)."""
        raise NotImplementedError

    def centred(self) -> "Law":
        r""":math:`(\cdot - m_\mu)_\sharp \mu`, of the same kind: its LSE is
        :math:`\mathrm{LSE}_\mu - \langle m_\mu, \cdot\rangle`."""
        raise NotImplementedError

    def radius(self) -> float:
        r"""How far :math:`\mu` spreads around its mean (the LSE test's queries have scale
        :math:`3/R`)."""
        raise NotImplementedError

    def _tilted(self, q):
        return jax.grad(self._lse)(q), jax.hessian(self._lse)(q)

    def _tilted_batch(self, q):
        return jax.vmap(self._tilted)(q)

    def lse(self, q: Float[_In, "*K d"]) -> Float[Array, "*K"]:
        r""":math:`\mathrm{LSE}_\mu(q)` at one query, a float64 array (d,), or a batch (..., d);
        :math:`\mathrm{LSE}_\mu(0) = 0`."""
        return _lse_batch(self, as_queries(q, "Law.lse", self.d))

    #: deprecated alias (one release) of :meth:`lse`, which now takes batches itself
    lse_at = lse

    def tilted(self, q: Float[_In, "*K d"]):
        r""":math:`(m_\mu(q), C_\mu(q))`, the mean float64 array (..., d) and covariance float64
        array (..., d, d) of :math:`\mu^q(dy) \propto e^{\langle q, y\rangle} \mu(dy)`: the gradient
        and Hessian of :math:`\mathrm{LSE}_\mu` at :math:`q`."""
        return _tilted_of_batch(self, as_queries(q, "Law.tilted", self.d))


class Discrete(Law):
    r"""Weighted atoms :math:`\mu = \sum_k a_k \delta_{x_k}`: ``x`` float64 array (n, d), ``a``
    float64 array (n,) (0 = padding), one context of an
    :class:`~mftransformer.solver.measures.EmpiricalMeasure`.

    .. math::

        \mathrm{LSE}_\mu(q) = \log \sum_k a_k e^{\langle q, x_k\rangle},\qquad
        m = \sum_k w_k x_k,\quad C = \sum_k w_k (x_k - m)(x_k - m)^\top,\quad
        w = \mathrm{softmax}(\langle q, x\rangle + \log a)
    """

    x: Float[Array, "n d"] = eqx.field(converter=float_field)
    a: Float[Array, " n"] = eqx.field(converter=float_field)

    @classmethod
    def of(cls, mu: EmpiricalMeasure, b: int) -> "Discrete":
        """Context ``b`` of a batch."""
        return cls(mu.x[b], mu.a[b])

    @property
    def d(self) -> int:
        return self.x.shape[-1]

    @property
    def loga(self):
        r""":math:`\log a` with :math:`-\infty` on padding."""
        return log_weights(self.a)

    @property
    def measure(self) -> EmpiricalMeasure:
        """The law as a batch of one context (1, n, d)."""
        return EmpiricalMeasure(self.x[None], self.a[None])

    def _lse(self, q):
        return lse_discrete(self.x, self.loga, q)

    def _tilted_batch(self, q):
        # the softmax statistics of attention with A = I (exact: A z = z), one head, one context
        _, m, C = tilted_stats(jnp.eye(self.d)[None], self.measure, q[None])
        return m[0, 0], C[0, 0]

    def __check_init__(self):
        check_arrays("Discrete", x=(self.x, "n d"), a=(self.a, "n"))

    def mean(self):
        return self.measure.mean()[0]

    @eqx.filter_jit
    def centred(self) -> "Discrete":
        return Discrete.of(center(self.measure), 0)

    def radius(self) -> float:
        r"""The largest :math:`|x_k - m_\mu|` over atoms of positive weight."""
        x, a = np.asarray(self.x), np.asarray(self.a)
        return float(np.max(np.where(a > 0, np.linalg.norm(x - a @ x, axis=-1), 0.0)))


class Gaussian(Law):
    r""":math:`\mathcal N(m, \Sigma)`:
    :math:`\mathrm{LSE}(q) = \langle m, q\rangle + \tfrac12 q^\top \Sigma q`,
    :math:`m_\mu(q) = m + \Sigma q`, :math:`C_\mu(q) = \Sigma`."""

    m: Float[Array, " d"] = eqx.field(converter=float_field)
    Sigma: Float[Array, "d d"] = eqx.field(converter=float_field)

    @property
    def d(self) -> int:
        return self.m.shape[-1]

    def _lse(self, q):
        return lse_gaussian(self.m, self.Sigma, q)

    def __check_init__(self):
        check_arrays("Gaussian", m=(self.m, "d"), Sigma=(self.Sigma, "d d"))

    def _tilted(self, q):
        return self.m + self.Sigma @ q, self.Sigma

    def mean(self):
        return self.m

    @eqx.filter_jit
    def centred(self) -> "Gaussian":
        return Gaussian(jnp.zeros_like(self.m), self.Sigma)

    def radius(self) -> float:
        r""":math:`2 \sqrt{\lambda_{\max}(\Sigma)}`."""
        return 2.0 * math.sqrt(max(float(np.linalg.eigvalsh(np.asarray(self.Sigma))[-1]), 0.0))


class Box(Law):
    r"""The uniform law on :math:`\prod_j [\mathrm{low}_j, \mathrm{high}_j]`:
    :math:`\mathrm{LSE}(q) = \sum_j \mathrm{low}_j q_j + \varphi(\ell_j q_j)` with
    :math:`\ell = \mathrm{high} - \mathrm{low}` and
    :math:`\varphi(t) = \log\bigl((e^t - 1)/t\bigr)`; :math:`(m, C)` by autodiff."""

    low: Float[Array, " d"] = eqx.field(converter=float_field)
    high: Float[Array, " d"] = eqx.field(converter=float_field)

    @property
    def d(self) -> int:
        return self.low.shape[-1]

    def __check_init__(self):
        check_arrays("Box", low=(self.low, "d"), high=(self.high, "d"))

    def _lse(self, q):
        return lse_box(self.low, self.high, q)

    def mean(self):
        return 0.5 * (self.low + self.high)

    @eqx.filter_jit
    def centred(self) -> "Box":
        half = 0.5 * (self.high - self.low)
        return Box(-half, half)

    def radius(self) -> float:
        r"""Half the diagonal, :math:`|\ell|/2`."""
        return 0.5 * float(np.linalg.norm(np.asarray(self.high) - np.asarray(self.low)))


class Mixture(Law):
    r""":math:`\sum_c \pi_c \mathcal N(m_c, \Sigma_c)`: ``weights`` float64 array (K,), ``means``
    float64 array (K, d), ``covs`` float64 array (K, d, d);
    :math:`\mathrm{LSE}(q) = \operatorname{logsumexp}_c\bigl(\log \pi_c + \langle m_c, q\rangle +
    \tfrac12 q^\top \Sigma_c q\bigr)`, :math:`(m, C)` by autodiff."""

    weights: Float[Array, " K"] = eqx.field(converter=float_field)
    means: Float[Array, "K d"] = eqx.field(converter=float_field)
    covs: Float[Array, "K d d"] = eqx.field(converter=float_field)

    @property
    def d(self) -> int:
        return self.means.shape[-1]

    def __check_init__(self):
        arrays = {"weights": (self.weights, "K"), "means": (self.means, "K d")}
        check_arrays("Mixture", **arrays, covs=(self.covs, "K d d"))

    def _lse(self, q):
        return lse_mixture(self.weights, self.means, self.covs, q)

    def mean(self):
        return self.weights @ self.means

    @eqx.filter_jit
    def centred(self) -> "Mixture":
        return Mixture(self.weights, self.means - self.mean()[None], self.covs)

    def radius(self) -> float:
        r""":math:`2 \sqrt{\max_c \lambda_{\max}(\Sigma_c)}` plus the spread
        :math:`\max_c |m_c - m_\mu|` of the means."""
        w, means = np.asarray(self.weights), np.asarray(self.means)
        lam = float(np.max(np.linalg.eigvalsh(np.asarray(self.covs))[:, -1]))
        spread = float(np.max(np.linalg.norm(means - w @ means, axis=-1)))
        return 2.0 * math.sqrt(max(lam, 0.0)) + spread


def laws_of(measures, where: str = "laws_of") -> list:
    """Validate a user's inputs and return them as a list of laws.

    Args:
        measures: an :class:`~mftransformer.EmpiricalMeasure` (each of its B contexts is one
            input), a law, or a sequence mixing both.

    Raises:
        ParameterError: an input of another type, inputs of different dimensions, negative weights
            or weights that do not sum to one, a box with ``high < low``, a non-symmetric or
            non-PSD covariance. The message names the input.
    """
    items = [measures] if isinstance(measures, (EmpiricalMeasure, Law)) else list(measures)
    laws = []
    for item in items:
        if isinstance(item, EmpiricalMeasure):
            x, a = np.asarray(item.x), np.asarray(item.a)  # host slices: no dispatch per context
            laws.extend(Discrete(x[b], a[b]) for b in range(item.B))
        elif isinstance(item, Law):
            laws.append(item)
        else:
            raise ParameterError(
                f"{where}: input of type {type(item).__name__}; allowed EmpiricalMeasure, "
                "Discrete, Gaussian, Box or Mixture (or a list of them)."
            )
    if not laws:
        raise ParameterError(f"{where}: no inputs; allowed a non-empty list of measures.")
    dims = [law.d for law in laws]
    if len(set(dims)) > 1:
        raise ParameterError(
            f"{where}: inputs have dimensions d = {dims}; allowed one common dimension d "
            "(LSE functions of measures on different spaces cannot be compared)."
        )
    for i, law in enumerate(laws):
        check_law(law, f"{where}: input {i}")
    return laws


def stack(laws) -> EmpiricalMeasure:
    """Discrete laws as one padded batch (B, n_max, d) (zero weights pad shorter clouds)."""
    laws = laws_of(laws, "stack")
    if not all(isinstance(law, Discrete) for law in laws):
        kinds = sorted({type(law).__name__ for law in laws})
        raise ParameterError(
            f"stack: inputs of kinds {kinds}; allowed Discrete only. Draw samples first "
            "(families.sample(law, n, key=...))."
        )
    n = max(law.x.shape[0] for law in laws)
    padded = [pad(law.measure, n) for law in laws]
    return EmpiricalMeasure(
        jnp.concatenate([mu.x for mu in padded]), jnp.concatenate([mu.a for mu in padded])
    )


def sample(law: Law, n: int, *, key) -> Discrete:
    """:math:`n` i.i.d. samples of a law as a :class:`Discrete` with weights :math:`1/n` (a Discrete
    law is resampled too).

    Drawn by a NumPy generator seeded from ``key`` (the stream the chapter-4 families were
    published with; no compilation per :math:`n`). The batched JAX-key samplers of whole empirical
    measures are ``measures.sample_gaussian``, ``sample_box``, ``sample_mixture``.
    """
    check_sizes("sample", n=n)
    (law,) = laws_of(law, "sample")
    rng = generator(key, 0)
    if isinstance(law, Gaussian):
        chol = np.linalg.cholesky(np.asarray(law.Sigma))
        x = np.asarray(law.m) + rng.standard_normal((n, law.d)) @ chol.T
    elif isinstance(law, Box):
        low, high = np.asarray(law.low), np.asarray(law.high)
        x = low + (high - low) * rng.uniform(size=(n, law.d))
    elif isinstance(law, Mixture):
        comp = rng.choice(len(law.weights), size=n, p=np.asarray(law.weights))
        chol = np.linalg.cholesky(np.asarray(law.covs))
        x = np.asarray(law.means)[comp] + np.einsum(
            "kij,kj->ki", chol[comp], rng.standard_normal((n, law.d))
        )
    else:
        a = np.asarray(law.a)
        x = np.asarray(law.x)[rng.choice(a.size, size=n, p=a / a.sum())]
    return Discrete(x, np.full(n, 1.0 / n))


# ---------------------------------------------------------------- building blocks
def dirac(x) -> Discrete:
    r""":math:`\delta_x`: its LSE is the linear function :math:`\langle x, q\rangle`."""
    x = np.atleast_1d(np.asarray(as_float(x, "dirac", "x", ndim=(0, 1)), float))
    return Discrete(x[None], np.ones(1))


def bernoulli(p: float, d: int = 2) -> Discrete:
    r"""Bernoulli(:math:`p`) on :math:`\{0, e_1\}` in :math:`\mathbb R^d`."""
    return binomial(1, p, d)


def binomial(k: int, p: float, d: int = 2) -> Discrete:
    r"""Binomial(:math:`k`, :math:`p`) on :math:`\{0, e_1, \dots, k e_1\}`: the :math:`k`-fold
    convolution of Bernoulli(:math:`p`), so
    :math:`\mathrm{LSE}_{\mathrm{Bin}(k,p)} = k\, \mathrm{LSE}_{\mathrm{Bern}(p)}`."""
    check_sizes("binomial", k=k, d=d)
    if not (isinstance(p, int | float | np.floating) and 0 < p < 1):
        raise ParameterError(f"binomial: p = {p!r}; allowed 0 < p < 1.")
    j = np.arange(k + 1)
    w = np.array([math.comb(k, i) for i in j]) * p**j * (1 - p) ** (k - j)
    x = np.zeros((k + 1, d))
    x[:, 0] = j
    return Discrete(x, w)


def convolution(mu: Discrete, nu: Discrete) -> Discrete:
    r""":math:`\mu * \nu` (atoms :math:`x_j + y_k`, weights :math:`a_j b_k`):
    :math:`\mathrm{LSE}_{\mu*\nu} = \mathrm{LSE}_\mu + \mathrm{LSE}_\nu`
    (:func:`~mftransformer.solver.measures.convolve` on one context)."""
    return Discrete.of(convolve(mu.measure, nu.measure), 0)


def generator(key, tag: int = 0) -> np.random.Generator:
    """A NumPy generator seeded from the key data of ``fold_in(key, tag)``: the same draws for
    the same key, in any order, without compiling a JAX sampler per shape."""
    return np.random.default_rng(np.asarray(jax.random.key_data(jax.random.fold_in(key, tag))))


# ---------------------------------------------------------------- private
@eqx.filter_jit
def _lse_batch(law, q):
    q = jnp.asarray(q, float)
    return jax.vmap(law._lse)(q.reshape(-1, law.d)).reshape(q.shape[:-1])


@eqx.filter_jit
def _tilted_of_batch(law, q):
    q = jnp.asarray(q, float)
    m, C = law._tilted_batch(q.reshape(-1, law.d))
    return m.reshape(q.shape), C.reshape(*q.shape, law.d)

"""Token laws with closed-form log-sum-exps, and the fixed families of chapter 4 (MATH.md §5.4-5.5).

A *law* is one context ``μ`` given exactly (its arrays may be NumPy or JAX; the builders here use
NumPy, so that the LSE test and the closed-form NTK run without compiling anything): a weighted
point cloud (:class:`Discrete`), a Gaussian,
a uniform box or a Gaussian mixture. Each has its log-sum-exp

.. math::

    \\mathrm{LSE}_\\mu(q) = \\log \\int e^{\\langle q, y\\rangle}\\, d\\mu(y),

its mean ``m_μ``, its centred version ``(· − m_μ)_♯ μ`` and a radius ``R`` (how far it spreads
around its mean) that sets the scale of the query points of the LSE test. Gradients and Hessians
of ``LSE`` (the tilted mean and covariance ``m_μ(q)``, ``C_μ(q)``) come from autodiff of the
closed forms, which are all max-subtracted.

:func:`family` builds the named families of MATH.md §5.5 (``D6``, ``U3``, ..., ``US``), each with
the verdict the theory predicts, the predicted null combination where there is one, and the
one-line reason.
"""

import dataclasses
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .errors import ParameterError, suggest
from .measures import (
    EmpiricalMeasure,
    lse_box,
    lse_discrete,
    lse_gaussian,
    lse_mixture,
)
from .types import Array, Float

#: laws hold NumPy or JAX arrays
_Arr = Array | np.ndarray

__all__ = [
    "Discrete",
    "Gaussian",
    "Box",
    "Mixture",
    "Law",
    "laws_of",
    "stack",
    "sample",
    "dirac",
    "bernoulli",
    "binomial",
    "convolution",
    "clouds",
    "Family",
    "FAMILIES",
    "family",
]

#: tolerance on the sum of weights of a law (same as :func:`mftransformer.empirical`).
WEIGHT_SUM_ATOL = 1e-6


class Discrete(eqx.Module):
    """A weighted point cloud ``μ = Σ_k a_k δ_{x_k}``: ``x`` ``(n, d)``, ``a`` ``(n,)``
    (0 = padding)."""

    x: Float[_Arr, "n d"]
    a: Float[_Arr, " n"]

    @property
    def d(self) -> int:
        return self.x.shape[-1]

    @property
    def loga(self):
        a = jnp.asarray(self.a)
        positive = a > 0
        return jnp.where(positive, jnp.log(jnp.where(positive, a, 1.0)), -jnp.inf)

    def lse(self, q: Float[_Arr, " d"]):
        return lse_discrete(jnp.asarray(self.x), self.loga, jnp.asarray(q))

    def lse_at(self, Q) -> np.ndarray:
        x, loga = np.asarray(self.x), _np_loga(self.a)
        return _logsumexp(np.asarray(Q) @ x.T + loga, axis=-1)

    def tilted(self, Q):
        x, loga = np.asarray(self.x), _np_loga(self.a)
        logits = np.asarray(Q) @ x.T + loga
        w = np.exp(logits - logits.max(axis=-1, keepdims=True))
        w /= w.sum(axis=-1, keepdims=True)
        m = w @ x
        dx = x[None] - m[:, None]
        return m, np.swapaxes(w[:, :, None] * dx, 1, 2) @ dx

    def mean(self):
        return self.a @ self.x

    def centred(self) -> "Discrete":
        return Discrete(self.x - self.mean(), self.a)

    def radius(self) -> float:
        r = np.linalg.norm(np.asarray(self.x - self.mean()), axis=-1)
        return float(np.max(np.where(np.asarray(self.a) > 0, r, 0.0)))


class Gaussian(eqx.Module):
    """``N(m, Σ)``: ``LSE(q) = ⟨m, q⟩ + ½ qᵀ Σ q``."""

    m: Float[_Arr, " d"]
    Sigma: Float[_Arr, "d d"]

    @property
    def d(self) -> int:
        return self.m.shape[-1]

    def lse(self, q):
        return lse_gaussian(jnp.asarray(self.m), jnp.asarray(self.Sigma), jnp.asarray(q))

    def lse_at(self, Q) -> np.ndarray:
        Q, S = np.asarray(Q), np.asarray(self.Sigma)
        return Q @ np.asarray(self.m) + 0.5 * np.einsum("ki,ij,kj->k", Q, S, Q)

    def tilted(self, Q):
        Q, S = np.asarray(Q), np.asarray(self.Sigma)
        return np.asarray(self.m) + Q @ S.T, np.broadcast_to(S, (Q.shape[0], *S.shape)).copy()

    def mean(self):
        return self.m

    def centred(self) -> "Gaussian":
        return Gaussian(np.zeros(self.d), self.Sigma)

    def radius(self) -> float:
        return 2.0 * math.sqrt(max(float(np.linalg.eigvalsh(np.asarray(self.Sigma))[-1]), 0.0))


class Box(eqx.Module):
    """The uniform law on ``Π_j [low_j, high_j]``: ``LSE(q) = Σ_j low_j q_j + φ(ℓ_j q_j)``."""

    low: Float[_Arr, " d"]
    high: Float[_Arr, " d"]

    @property
    def d(self) -> int:
        return self.low.shape[-1]

    def lse(self, q):
        return lse_box(jnp.asarray(self.low), jnp.asarray(self.high), jnp.asarray(q))

    def lse_at(self, Q) -> np.ndarray:
        Q, low, ell = np.asarray(Q), np.asarray(self.low), np.asarray(self.high - self.low)
        return np.sum(low * Q + _phi(ell * Q), axis=-1)

    def tilted(self, Q):
        Q, low, ell = np.asarray(Q), np.asarray(self.low), np.asarray(self.high - self.low)
        t = ell * Q
        m = low + ell * _dphi(t)
        C = np.zeros((*Q.shape, Q.shape[-1]))
        idx = np.arange(Q.shape[-1])
        C[:, idx, idx] = ell**2 * _d2phi(t)
        return m, C

    def mean(self):
        return 0.5 * (self.low + self.high)

    def centred(self) -> "Box":
        half = 0.5 * (self.high - self.low)
        return Box(-half, half)

    def radius(self) -> float:
        return 0.5 * float(np.linalg.norm(np.asarray(self.high - self.low)))


class Mixture(eqx.Module):
    """``Σ_c π_c N(m_c, Σ_c)``: ``weights`` ``(K,)``, ``means`` ``(K, d)``,
    ``covs`` ``(K, d, d)``."""

    weights: Float[_Arr, " K"]
    means: Float[_Arr, "K d"]
    covs: Float[_Arr, "K d d"]

    @property
    def d(self) -> int:
        return self.means.shape[-1]

    def lse(self, q):
        return lse_mixture(self.weights, self.means, self.covs, q)

    def lse_at(self, Q) -> np.ndarray:
        return _logsumexp(self._logits(Q), axis=-1)

    def tilted(self, Q):
        Q, covs = np.asarray(Q), np.asarray(self.covs)
        logits = self._logits(Q)
        r = np.exp(logits - logits.max(axis=-1, keepdims=True))
        r /= r.sum(axis=-1, keepdims=True)  # responsibilities (K, c)
        mc = np.asarray(self.means)[None] + np.einsum("cij,kj->kci", covs, Q)  # tilted comp. means
        m = np.einsum("kc,kci->ki", r, mc)
        dm = mc - m[:, None]
        C = np.einsum("kc,cij->kij", r, covs) + np.einsum("kc,kci,kcj->kij", r, dm, dm)
        return m, C

    def _logits(self, Q):
        Q = np.asarray(Q)
        return (
            np.log(np.asarray(self.weights))
            + Q @ np.asarray(self.means).T
            + 0.5 * np.einsum("ki,cij,kj->kc", Q, np.asarray(self.covs), Q)
        )

    def mean(self):
        return self.weights @ self.means

    def centred(self) -> "Mixture":
        return Mixture(self.weights, self.means - self.mean(), self.covs)

    def radius(self) -> float:
        lam = max(float(np.linalg.eigvalsh(np.asarray(c))[-1]) for c in self.covs)
        spread = float(np.max(np.linalg.norm(np.asarray(self.means - self.mean()), axis=-1)))
        return 2.0 * math.sqrt(max(lam, 0.0)) + spread


Law = Discrete | Gaussian | Box | Mixture
_LAW_TYPES = (Discrete, Gaussian, Box, Mixture)


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
    items = [measures] if isinstance(measures, (EmpiricalMeasure, *_LAW_TYPES)) else list(measures)
    laws = []
    for item in items:
        if isinstance(item, EmpiricalMeasure):
            x, a = np.asarray(item.x), np.asarray(item.a)
            laws.extend(Discrete(x[b], a[b]) for b in range(item.B))
        elif isinstance(item, _LAW_TYPES):
            laws.append(item)
        else:
            raise ParameterError(
                f"{where}: input of type {type(item).__name__}; allowed EmpiricalMeasure, "
                "Discrete, "
                "Gaussian, Box or Mixture (or a list of them)."
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
        _validate(law, f"{where}: input {i}")
    return laws


def stack(laws) -> EmpiricalMeasure:
    """Discrete laws as one padded batch ``(B, n_max, d)`` (zero weights pad shorter clouds)."""
    laws = laws_of(laws, "stack")
    if not all(isinstance(law, Discrete) for law in laws):
        kinds = sorted({type(law).__name__ for law in laws})
        raise ParameterError(
            f"stack: inputs of kinds {kinds}; allowed Discrete only. Draw samples first "
            "(families.sample(law, n, key=...))."
        )
    n = max(law.x.shape[0] for law in laws)
    x = np.stack([np.pad(np.asarray(law.x), ((0, n - law.x.shape[0]), (0, 0))) for law in laws])
    a = np.stack([np.pad(np.asarray(law.a), (0, n - law.a.shape[0])) for law in laws])
    return EmpiricalMeasure(jnp.asarray(x), jnp.asarray(a))


def sample(law, n: int, *, key) -> Discrete:
    """``n`` i.i.d. samples of a law as a :class:`Discrete` with weights ``1/n`` (a Discrete law is
    resampled too). Drawn by a NumPy generator seeded from ``key`` (no compilation per ``n``)."""
    rng = _rng(key, 0)
    if isinstance(law, Gaussian):
        chol = np.linalg.cholesky(np.asarray(law.Sigma) + 0.0 * np.eye(law.d))
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
    """``δ_x``: its LSE is the linear function ``⟨x, q⟩``."""
    x = np.atleast_1d(np.asarray(x, float))
    return Discrete(x[None], np.ones(1))


def bernoulli(p: float, d: int = 2) -> Discrete:
    """Bernoulli(``p``) on ``{0, e_1}`` in ``R^d``."""
    return binomial(1, p, d)


def binomial(k: int, p: float, d: int = 2) -> Discrete:
    """Binomial(``k``, ``p``) on ``{0, e_1, ..., k e_1}``: the ``k``-fold convolution of
    Bernoulli(``p``), so ``LSE_{Bin(k,p)} = k LSE_{Bern(p)}``."""
    if not 0 < p < 1:
        raise ParameterError(f"binomial: p = {p}; allowed 0 < p < 1.")
    j = np.arange(k + 1)
    w = np.array([math.comb(k, i) for i in j]) * p**j * (1 - p) ** (k - j)
    x = np.zeros((k + 1, d))
    x[:, 0] = j
    return Discrete(x, w)


def convolution(mu: Discrete, nu: Discrete) -> Discrete:
    """``μ * ν`` (atoms ``x_j + y_k``, weights ``a_j b_k``): ``LSE_{μ*ν} = LSE_μ + LSE_ν``."""
    x = (np.asarray(mu.x)[:, None, :] + np.asarray(nu.x)[None, :, :]).reshape(-1, mu.d)
    return Discrete(x, (np.asarray(mu.a)[:, None] * np.asarray(nu.a)[None, :]).reshape(-1))


# ---------------------------------------------------------------- the families of MATH.md §5.5
@dataclasses.dataclass(frozen=True)
class Family:
    """A named family of inputs and what the theory predicts for it.

    Attributes:
        name: its id (``"BB"``).
        laws: the inputs (laws).
        affine: predicted verdict modulo affine functions, ``"independent"`` or ``"dependent"``.
        constant: predicted verdict modulo constants (= plain linear independence).
        null: the predicted null combination ``c`` (modulo affine), or None.
        reason: one line saying why.
    """

    name: str
    laws: list
    affine: str
    constant: str
    null: tuple | None
    reason: str


def _rng(key, tag: int) -> np.random.Generator:
    """A NumPy generator seeded from ``fold_in(key, tag)``: families are built without compiling
    JAX samplers (the same draws for the same key, in any order)."""
    return np.random.default_rng(np.asarray(jax.random.key_data(jax.random.fold_in(key, tag))))


def _clouds(key, tag, B, n, d=2):
    """``B`` clouds of ``n`` atoms ``~ N(0, I_d)`` with Dirichlet(1) weights."""
    rng = _rng(key, tag)
    x = rng.standard_normal((B, n, d))
    a = rng.dirichlet(np.ones(n), size=B)
    return [Discrete(x[b], a[b]) for b in range(B)]


def clouds(B: int, n: int, d: int = 2, *, key) -> list:
    """``B`` discrete laws of ``n`` atoms ``~ N(0, I_d)`` with Dirichlet(1) weights (generic
    clouds)."""
    return _clouds(key, 0, B, n, d)


def _d6(key):
    return _clouds(key, 0, 6, 4)


def _g3(key):
    covs = [
        np.diag([1.0, 0.5]),
        np.diag([0.3, 1.2]),
        np.array([[0.8, 0.4], [0.4, 0.6]]),
        np.diag([0.7, 0.7]),
    ]
    means = _rng(key, 1).standard_normal((4, 2))
    return [Gaussian(m, S) for m, S in zip(means, covs, strict=True)]


def _mx6(key):
    rng = _rng(key, 2)
    w = rng.dirichlet(np.ones(2), size=6)
    m = rng.standard_normal((6, 2, 1))
    s = rng.uniform(0.3, 1.2, size=(6, 2))
    return [Mixture(w[i], m[i], (s[i] ** 2)[:, None, None]) for i in range(6)]


def _interval(lo, hi):
    return Box(np.array([float(lo)]), np.array([float(hi)]))


def _build(name, key):
    ind, dep = "independent", "dependent"
    if name == "D6":
        return _d6(key), ind, ind, None, "generic weighted clouds"
    if name == "U3":
        laws = [_interval(0, 1), _interval(-0.5, 1.5), _interval(0.3, 3.3)]
        return laws, ind, ind, None, "intervals of distinct lengths (Vandermonde in lengths²)"
    if name == "U4":
        laws = [_interval(0, ell) for ell in (0.5, 1.0, 1.5, 2.0)]
        return laws, ind, ind, None, "intervals of distinct lengths (Vandermonde in lengths²)"
    if name == "B3":
        laws = [
            Box(np.zeros(2), np.array([1.0, 2.0])),
            Box(np.zeros(2), np.array([2.0, 1.0])),
            Box(np.zeros(2), np.array([3.0, 3.0])),
        ]
        return laws, ind, ind, None, "boxes whose side lengths are not shared in a cancelling way"
    if name == "G3":
        return _g3(key)[:3], ind, ind, None, "three covariances independent in Sym(2)"
    if name == "MX6":
        return _mx6(key), ind, ind, None, "generic Gaussian mixtures"
    if name == "T":
        d6 = _d6(key)
        shifted = Discrete(d6[0].x + np.array([0.7, -0.3]), d6[0].a)
        return [d6[0], shifted, d6[1]], dep, ind, (1, -1, 0), "translates differ by a linear LSE"
    if name == "DD":
        laws = [dirac([0.3, 0.1]), dirac([-0.5, 0.4])]
        return laws, dep, ind, None, "a Dirac's LSE is linear"
    if name == "BB":
        return (
            [bernoulli(0.3), binomial(2, 0.3)],
            dep,
            dep,
            (-2, 1),
            "LSE of Bin(2,p) = 2 LSE of Bern(p)",
        )
    if name == "CV":
        d6 = _d6(key)
        nu = _clouds(key, 5, 1, 3)[0]
        return (
            [d6[1], nu, convolution(d6[1], nu)],
            dep,
            dep,
            (1, 1, -1),
            "LSEs add under convolution",
        )
    if name == "G1":
        laws = [
            Gaussian(np.array([0.2]), np.array([[1.0]])),
            Gaussian(np.array([-0.4]), np.array([[0.5]])),
        ]
        return (
            laws,
            dep,
            ind,
            (1, -2),
            "1D Gaussian LSEs are quadratics: two are dependent mod affine",
        )
    if name == "G4":
        return _g3(key), dep, ind, None, "four covariances in the 3-dimensional Sym(2)"
    if name == "US":
        laws = [_interval(0, 1), _interval(0.5, 1.5), _interval(0, 2)]
        return laws, dep, ind, (1, -1, 0), "two intervals of equal length are translates"
    raise AssertionError(name)


#: the family ids of MATH.md §5.5, holding ones first.
FAMILIES = ("D6", "U3", "U4", "B3", "G3", "MX6", "T", "DD", "BB", "CV", "G1", "G4", "US")


def family(name: str, *, key) -> Family:
    """The named family of MATH.md §5.5 (random parts drawn from ``key``).

    Raises:
        ParameterError: an unknown name (with a "did you mean").

    >>> fam = family("BB", key=jax.random.key(0))
    >>> fam.affine, fam.null
    ('dependent', (-2, 1))
    """
    if name not in FAMILIES:
        raise ParameterError(
            f"family: name = {name!r}; allowed {list(FAMILIES)}.{suggest(name, FAMILIES)}"
        )
    laws, affine, constant, null, reason = _build(name, key)
    return Family(name, laws, affine, constant, null, reason)


# ---------------------------------------------------------------- private
def _np_loga(a):
    a = np.asarray(a)
    with np.errstate(divide="ignore"):
        return np.where(a > 0, np.log(np.where(a > 0, a, 1.0)), -np.inf)


def _logsumexp(z, axis):
    top = np.max(z, axis=axis, keepdims=True)
    return np.squeeze(top, axis) + np.log(np.sum(np.exp(z - top), axis=axis))


# φ(t) = log((e^t − 1)/t) and its derivatives; Taylor series where the closed forms cancel.
_SMALL = 0.1


def _phi(t):
    at = np.abs(t)
    safe = np.where(at > 1e-8, at, 1.0)
    return np.where(at > 1e-8, np.maximum(t, 0.0) + np.log(-np.expm1(-safe) / safe), 0.5 * t)


def _dphi(t):
    """φ'(t) = 1/(1 − e^{−t}) − 1/t = ½ + t/12 − t³/720 + t⁵/30240 − ..."""
    safe = np.where(np.abs(t) > _SMALL, t, 1.0)
    big = -1.0 / np.expm1(-safe) - 1.0 / safe
    small = 0.5 + t / 12 - t**3 / 720 + t**5 / 30240 - t**7 / 1209600
    return np.where(np.abs(t) > _SMALL, big, small)


def _d2phi(t):
    """φ''(t) = 1/t² − 1/(4 sinh²(t/2)) = 1/12 − t²/240 + t⁴/6048 − t⁶/172800 + ..."""
    safe = np.where(np.abs(t) > _SMALL, t, 1.0)
    big = 1.0 / safe**2 - 1.0 / (4.0 * np.sinh(0.5 * safe) ** 2)
    small = 1 / 12 - t**2 / 240 + t**4 / 6048 - t**6 / 172800
    return np.where(np.abs(t) > _SMALL, big, small)


def _validate(law, where):
    if isinstance(law, (Discrete, Mixture)):
        a = np.asarray(law.a if isinstance(law, Discrete) else law.weights)
        if np.any(a < 0) or not np.all(np.isfinite(a)):
            raise ParameterError(
                f"{where}: weights have negative or non-finite entries; allowed >= 0."
            )
        if abs(a.sum() - 1) > WEIGHT_SUM_ATOL:
            raise ParameterError(
                f"{where}: weights sum to {a.sum():.6g}; allowed sum 1 (± {WEIGHT_SUM_ATOL:g}). "
                "Normalise the weights."
            )
    if isinstance(law, Box) and np.any(np.asarray(law.high) < np.asarray(law.low)):
        raise ParameterError(f"{where}: box with high < low; allowed low <= high on every axis.")
    covs = (
        [law.Sigma] if isinstance(law, Gaussian) else law.covs if isinstance(law, Mixture) else []
    )
    for S in covs:
        S = np.asarray(S)
        if not np.allclose(S, S.T, atol=1e-12) or np.linalg.eigvalsh(0.5 * (S + S.T))[0] < -1e-12:
            raise ParameterError(f"{where}: covariance is not symmetric PSD; allowed Σ = Σᵀ ⪰ 0.")

r"""The fixed families of laws of chapter 4, as one table (ch. 4 families).

Each family is a short list of laws (:mod:`~mftransformer.solver.laws`) with what the theory
predicts for their log-sum-exps

.. math::

    \sum_i c_i\, \mathrm{LSE}_{\mu_i} \in \mathrm{Aff} \ \Rightarrow\ c = 0 \quad ?

modulo affine functions and modulo constants (plain linear independence, since
:math:`\mathrm{LSE}_\mu(0) = 0`), the predicted null combination :math:`c` where there is one,
and the one-line reason. A predicted verdict is one of the test's three: ``"independent"``,
``"dependent"``, or ``"ill-conditioned"`` for a family that is independent in exact arithmetic but
so close to a relation that float64 cannot certify it (``"TN"``). :data:`TABLE` holds them,
holding families first; :func:`family` builds one. Random parts are drawn from a NumPy generator
seeded from the key (:func:`~mftransformer.solver.laws.generator`), one role tag per draw, so the
same key gives the same laws in any order.

The laws API is re-exported here (``families.Discrete``, ``families.sample``, ...), as chapters
and readers have used it.
"""

import dataclasses
from collections.abc import Callable

import jax
import numpy as np

from .errors import ParameterError, suggest
from .laws import (
    Box,
    Discrete,
    Gaussian,
    Law,
    Mixture,
    bernoulli,
    binomial,
    convolution,
    dirac,
    generator,
    laws_of,
    sample,
    stack,
)
from .measures import WEIGHT_SUM_ATOL
from .validate import check_sizes

__all__ = [
    "Family",
    "Spec",
    "TABLE",
    "FAMILIES",
    "NUDGE",
    "family",
    "clouds",
    # re-exported from laws (the API chapters and readers use)
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
    "WEIGHT_SUM_ATOL",
]

IND, DEP, ILL = "independent", "dependent", "ill-conditioned"
#: How far family ``"TN"`` moves the heaviest atom of family ``"T"``'s translate. The LSE ratio is
#: 0.04 to 0.34 times this amplitude (measured over 72 draws of the clouds), inside the test's
#: inconclusive zone (1e-12, 1e-6) with more than two decades to spare on either side
NUDGE = 1e-8
# role tags of the draws (STYLE.md §7): fixed integers, never reused
_CLOUDS, _MEANS, _MIXTURES, _SECOND_CLOUD = 0, 1, 2, 5


@dataclasses.dataclass(frozen=True)
class Family:
    """A named family of inputs and what the theory predicts for it.

    Attributes:
        name: its id (``"BB"``).
        laws: the inputs (laws).
        affine: predicted verdict modulo affine functions: ``"independent"``, ``"dependent"`` or
            ``"ill-conditioned"``.
        constant: predicted verdict modulo constants (= plain linear independence).
        null: the predicted null combination :math:`c` (modulo affine), or None.
        reason: one line saying why.
    """

    name: str
    laws: list
    affine: str
    constant: str
    null: tuple | None
    reason: str


@dataclasses.dataclass(frozen=True)
class Spec:
    """One row of :data:`TABLE`: ``build(key)`` gives the laws; the rest is the prediction."""

    build: Callable[[jax.Array], list]
    affine: str
    constant: str
    null: tuple | None
    reason: str


def clouds(B: int, n: int, d: int = 2, *, key) -> list:
    r"""``B`` discrete laws of ``n`` atoms drawn from :math:`\mathcal N(0, I_d)`, with Dirichlet(1)
    weights (generic clouds)."""
    check_sizes("clouds", B=B, n=n, d=d)
    return _clouds(key, _CLOUDS, B, n, d)


# ---------------------------------------------------------------- builders of the table's rows
def _clouds(key, tag, B, n, d=2):
    rng = generator(key, tag)
    x = rng.standard_normal((B, n, d))
    a = rng.dirichlet(np.ones(n), size=B)
    return [Discrete(x[b], a[b]) for b in range(B)]


def _intervals(*ends):
    r"""A builder of the uniform laws on :math:`[\mathrm{lo}, \mathrm{hi}]`, one per pair of
    ``ends``."""
    return lambda key: [Box([float(lo)], [float(hi)]) for lo, hi in ends]


def _fixed(*laws):
    """A builder of laws that do not depend on the key (built when the family is)."""
    return lambda key: [build() for build in laws]


def _d6(key):
    return clouds(6, 4, key=key)


def _b3(key):
    return [Box([0.0, 0.0], high) for high in ([1.0, 2.0], [2.0, 1.0], [3.0, 3.0])]


def _g4(key):
    r"""Four 2D Gaussians with :math:`\mathcal N(0, I)` means; the first three covariances span
    :math:`\mathrm{Sym}(2)`."""
    covs = ([[1.0, 0.0], [0.0, 0.5]], [[0.3, 0.0], [0.0, 1.2]], [[0.8, 0.4], [0.4, 0.6]],
            [[0.7, 0.0], [0.0, 0.7]])  # fmt: skip
    means = generator(key, _MEANS).standard_normal((4, 2))
    return [Gaussian(m, S) for m, S in zip(means, covs, strict=True)]


def _g3(key):
    return _g4(key)[:3]


def _mx6(key):
    r"""Six 1D two-component mixtures: Dir(1, 1) weights, :math:`\mathcal N(0, 1)` means, std
    :math:`U(0.3, 1.2)`."""
    rng = generator(key, _MIXTURES)
    w = rng.dirichlet(np.ones(2), size=6)
    m = rng.standard_normal((6, 2, 1))
    s = rng.uniform(0.3, 1.2, size=(6, 2))
    return [Mixture(w[i], m[i], (s[i] ** 2)[:, None, None]) for i in range(6)]


def _t(key):
    d6 = _d6(key)
    return [d6[0], Discrete(np.asarray(d6[0].x) + np.array([0.7, -0.3]), d6[0].a), d6[1]]


def _tn(key):
    """Family T with the heaviest atom of the translate moved by :data:`NUDGE` along
    :math:`(0.6, 0.8)` (the heaviest, so that the move is felt: a light atom moves the LSE in
    proportion to its weight)."""
    t = _t(key)
    x = np.array(t[1].x)
    x[int(np.argmax(np.asarray(t[1].a)))] += NUDGE * np.array([0.6, 0.8])
    return [t[0], Discrete(x, t[1].a), t[2]]


def _cv(key):
    mu, nu = _d6(key)[1], _clouds(key, _SECOND_CLOUD, 1, 3)[0]
    return [mu, nu, convolution(mu, nu)]


_U3 = _intervals((0, 1), (-0.5, 1.5), (0.3, 3.3))
_U4 = _intervals((0, 0.5), (0, 1.0), (0, 1.5), (0, 2.0))
_US = _intervals((0, 1), (0.5, 1.5), (0, 2))
_DD = _fixed(lambda: dirac([0.3, 0.1]), lambda: dirac([-0.5, 0.4]))
_BB = _fixed(lambda: bernoulli(0.3), lambda: binomial(2, 0.3))
_G1 = _fixed(lambda: Gaussian([0.2], [[1.0]]), lambda: Gaussian([-0.4], [[0.5]]))
_LENGTHS = "intervals of distinct lengths (Vandermonde in lengths²)"
_SIDES = "boxes whose side lengths are not shared in a cancelling way"
_QUADRATICS = "1D Gaussian LSEs are quadratics: two are dependent mod affine"

# fmt: off
#: The families of chapter 4, holding ones first, then the ill-conditioned one, by id (how to
#: build the laws, the verdicts predicted modulo affine functions and modulo constants, the
#: null combination, the reason).
TABLE = {
    "D6":  Spec(_d6,  IND, IND, None,       "generic weighted clouds"),
    "U3":  Spec(_U3,  IND, IND, None,       _LENGTHS),
    "U4":  Spec(_U4,  IND, IND, None,       _LENGTHS),
    "B3":  Spec(_b3,  IND, IND, None,       _SIDES),
    "G3":  Spec(_g3,  IND, IND, None,       "three covariances independent in Sym(2)"),
    "MX6": Spec(_mx6, IND, IND, None,       "generic Gaussian mixtures"),
    "TN":  Spec(_tn,  ILL, IND, None,       "T, one atom moved by 1e-8: independent, barely"),
    "T":   Spec(_t,   DEP, IND, (1, -1, 0), "translates differ by a linear LSE"),
    "DD":  Spec(_DD,  DEP, IND, None,       "a Dirac's LSE is linear"),
    "BB":  Spec(_BB,  DEP, DEP, (-2, 1),    "LSE of Bin(2,p) = 2 LSE of Bern(p)"),
    "CV":  Spec(_cv,  DEP, DEP, (1, 1, -1), "LSEs add under convolution"),
    "G1":  Spec(_G1,  DEP, IND, (1, -2),    _QUADRATICS),
    "G4":  Spec(_g4,  DEP, IND, None,       "four covariances in the 3-dimensional Sym(2)"),
    "US":  Spec(_US,  DEP, IND, (1, -1, 0), "two intervals of equal length are translates"),
}
# fmt: on

#: the family ids of chapter 4, holding ones first, then ``"TN"`` (ill-conditioned), then failing
#: ones.
FAMILIES = tuple(TABLE)


def family(name: str, *, key) -> Family:
    """The named family of chapter 4 (random parts drawn from ``key``).

    Raises:
        ParameterError: an unknown name (with a "did you mean").

    >>> fam = family("BB", key=jax.random.key(0))
    >>> fam.affine, fam.null
    ('dependent', (-2, 1))
    """
    if not isinstance(name, str) or name not in TABLE:
        raise ParameterError(
            f"family: name = {name!r}; allowed {list(FAMILIES)}.{suggest(name, FAMILIES)}"
        )
    spec = TABLE[name]
    return Family(name, spec.build(key), spec.affine, spec.constant, spec.null, spec.reason)

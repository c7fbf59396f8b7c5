r"""The log-sum-exp independence test on laws or empirical measures (Model: NTK).

The NTK at the silent point is positive definite iff the LSE functions of the (centred) contexts
are linearly independent modulo affine functions (:mod:`~mftransformer.solver.ntk`). The test
samples them at :math:`K` queries and reads the verdict off the smallest singular value:

.. math::

    F_{ki} = \mathrm{LSE}_{\mu_i}(q_k),\qquad
    \rho = \frac{\sigma_{\min}}{\sigma_{\max}}\Big(\big(I - \Pi_{[1, q]}\big)
    F\,\mathrm{diag}(\nu)^{-1}\Big).

Verdict on :math:`\rho`: dependent if :math:`\rho < 10^{-12}` or :math:`\sigma_{\max} < 10^{-12}`
(every column affine, e.g. Diracs), independent if :math:`\rho > 10^{-6}`, else ill-conditioned.
Queries: :math:`q_k \sim \mathcal N(0, s^2 I)` with :math:`s = 3/R` (:math:`R` the largest centred
radius of the inputs, :math:`s = 3` if :math:`R = 0`), unless given. The LSEs are those of
:mod:`~mftransformer.solver.laws`, in float64; the projection and the SVD are NumPy (float64 on
the host).
"""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

from .errors import ParameterError, check_positive, suggest
from .laws import Discrete, laws_of
from .validate import as_float, check_sizes

__all__ = [
    "LSEReport",
    "lse_independence",
    "verdict",
    "projected_ratio",
    "DEPENDENT_BELOW",
    "INDEPENDENT_ABOVE",
    "MAX_BYTES",
]

#: :math:`\sigma_{\min}/\sigma_{\max}` below this is an exact dependency, about 5·10³ float64
#: epsilons (2.2e-16): the round-off of a QR projection and an SVD of a K×N matrix of O(1) entries
#: (measured ≤ 1e-15).
DEPENDENT_BELOW = 1e-12
#: :math:`\sigma_{\min}/\sigma_{\max}` above this is independent; in between the test is
#: ill-conditioned (inconclusive).
INDEPENDENT_ABOVE = 1e-6
#: default memory budget (bytes) of the NTK and LSE computations; estimated before allocating.
MAX_BYTES = 4 * 2**30

_AFFINE = ("affine", "constant")


def verdict(ratio: float) -> str:
    r"""The three-valued verdict on a ratio of singular values
    :math:`\rho = \sigma_{\min}/\sigma_{\max}`: ``"dependent"`` if :math:`\rho < 10^{-12}`
    (``DEPENDENT_BELOW``), ``"independent"`` if :math:`\rho > 10^{-6}` (``INDEPENDENT_ABOVE``),
    else ``"ill-conditioned"`` (inconclusive).

    The same thresholds serve the LSE test and the NTK's feature matrix
    (:func:`~mftransformer.solver.ntk.feature_ratio`): both are ratios of singular values of
    O(1) matrices, whose round-off floor is a few float64 epsilons.

    >>> verdict(1e-16), verdict(1e-9), verdict(1e-3)
    ('dependent', 'ill-conditioned', 'independent')
    """
    if ratio < DEPENDENT_BELOW:
        return "dependent"
    return "independent" if ratio > INDEPENDENT_ABOVE else "ill-conditioned"


def projected_ratio(F, basis):
    r"""The ratio :math:`\rho` of :func:`lse_independence` from its matrix, in JAX (``vmap`` it
    over a batch of matrices: the repeated draws of a chapter).

    .. math::

        \rho = \frac{\sigma_{\min}}{\sigma_{\max}}\Big(\big(I - \Pi_{\rm basis}\big)
        F\,\mathrm{diag}(\nu)^{-1}\Big),\qquad \nu_i = \lVert F_{\cdot i}\rVert,

    0 when :math:`\sigma_{\max} < 10^{-12}` (every column in the span of the basis).

    Args:
        F: the LSE values, float64 array (K, N): ``F[k, i]`` is :math:`\mathrm{LSE}_{\mu_i}(q_k)`.
        basis: the functions removed, float64 array (K, r): ``[1, q]`` (modulo affine) or ``[1]``.

    Returns:
        :math:`\rho`, a float64 scalar array.
    """
    nu = jnp.linalg.norm(F, axis=0)
    Fn = F / jnp.where(nu > 0, nu, 1.0)[None, :]
    Q, _ = jnp.linalg.qr(basis)
    R = Fn - Q @ (Q.T @ Fn)
    sigma = jnp.linalg.svd(R, compute_uv=False)
    return jnp.where(sigma[0] < DEPENDENT_BELOW, 0.0, sigma[-1] / sigma[0])


@dataclasses.dataclass(frozen=True)
class LSEReport:
    r"""Verdict of :func:`lse_independence`.

    Attributes:
        verdict: ``"independent"``, ``"dependent"`` or ``"ill-conditioned"``.
        ratio: :math:`\rho = \sigma_{\min}/\sigma_{\max}` (0 if :math:`\sigma_{\max}` itself is
            below the floor).
        sigma: singular values, descending, of the normalised and projected LSE matrix.
        null: the combination :math:`c` of the last right singular vector
            (:math:`c_i \propto v_i/\nu_i`), normalised to unit length.
        residuals: column norms after projection (≈ 0 for inputs whose LSE is affine).
        nullity: :math:`\#\{\sigma < 10^{-12} \sigma_{\max}\}`, the number of relations found.
        modulo, centre: the options used; queries: the query points, float64 array (K, d).
        dependent_below, independent_above: the thresholds on :math:`\rho`.
    """

    verdict: str
    ratio: float
    sigma: np.ndarray
    null: np.ndarray
    residuals: np.ndarray
    nullity: int
    modulo: str
    centre: bool
    queries: np.ndarray
    dependent_below: float = DEPENDENT_BELOW
    independent_above: float = INDEPENDENT_ABOVE

    @property
    def holds(self) -> bool:
        """True when the criterion (independence) holds with margin."""
        return self.verdict == "independent"

    @property
    def margin(self) -> float:
        r"""Decades between :math:`\rho` and the threshold of the verdict (positive = clear
        verdict)."""
        r = max(self.ratio, 1e-300)
        if self.verdict == "dependent":
            return math.log10(self.dependent_below / r)
        return math.log10(r / self.independent_above)

    def __str__(self):
        return (
            f"LSE functions {self.verdict} modulo {self.modulo}: sigma_min/sigma_max = "
            f"{self.ratio:.2e} (independent above {self.independent_above:.0e}, dependent below "
            f"{self.dependent_below:.0e}; margin {self.margin:+.1f} decades)"
        )


def lse_independence(
    measures,
    *,
    queries=None,
    K: int = 2000,
    scale: float | None = None,
    centre: bool = False,
    modulo: str = "affine",
    key=None,
    max_bytes: int = MAX_BYTES,
) -> LSEReport:
    r"""Are the LSE functions of the inputs linearly independent modulo affine functions?

    .. math::

        F_{ki} = \mathrm{LSE}_{\mu_i}(q_k),\qquad
        \rho = \frac{\sigma_{\min}}{\sigma_{\max}}\Big(\big(I - \Pi_{[1, q]}\big)
        F\,\mathrm{diag}(\nu)^{-1}\Big)

    with :math:`\nu_i` the column norms and :math:`\Pi` the orthogonal projection on the affine
    functions of :math:`q` (``modulo="affine"``) or on constants (``"constant"``, the same as
    plain independence since :math:`\mathrm{LSE}(0) = 0`); verdict and default queries as in the
    module's introduction.

    Args:
        measures: the inputs: an :class:`EmpiricalMeasure` (B contexts), laws from
            :mod:`mftransformer.solver.laws`, or a list of them (clouds may have different sizes).
        queries: query points, float64 array (K, d) (overrides ``K``, ``scale`` and ``key``).
        K: number of random queries (default 2000); at least :math:`N + d + 1`.
        scale: :math:`s`; default :math:`3/R`.
        centre: centre each input first (does not change the affine verdict).
        modulo: ``"affine"`` or ``"constant"``.
        key: ``jax.random`` key for the queries (required unless ``queries`` is given).

    Returns:
        :class:`LSEReport` (``print`` it for the verdict, margin and thresholds).

    Raises:
        ParameterError: float64 off, inputs of different dimensions, weights not summing to one,
            an unknown ``modulo``, too few queries, no key, or a memory estimate above
            ``max_bytes``.

    >>> from mftransformer.solver.laws import bernoulli, binomial
    >>> lse_independence([bernoulli(0.3), binomial(2, 0.3)], key=jax.random.key(0)).verdict
    'dependent'
    """
    _check_options(modulo, K if queries is None else None, scale, max_bytes)
    laws = laws_of(measures, "lse_independence")
    if centre:
        laws = [law.centred() for law in laws]
    n_removed = laws[0].d + 1 if modulo == "affine" else 1
    queries = _queries(laws, queries, K, scale, key, n_removed, modulo, max_bytes)
    F = np.stack([np.asarray(law.lse(queries)) for law in laws], axis=1)
    basis = np.ones((queries.shape[0], 1))
    if modulo == "affine":
        basis = np.concatenate([basis, np.asarray(queries)], axis=1)
    return _report(F, basis, modulo, centre, np.asarray(queries))


# ---------------------------------------------------------------- private
def _check_options(modulo, K, scale, max_bytes):
    check_positive("lse_independence", "max_bytes", max_bytes)
    if K is not None:
        check_sizes("lse_independence", K=K)
    if scale is not None:
        check_positive("lse_independence", "scale", scale)
    if not jax.config.jax_enable_x64:
        raise ParameterError(
            "lse_independence: jax_enable_x64 = False; allowed True (the thresholds 1e-12 and "
            "1e-6 are float64 round-off). Call mft.configure() before building any array."
        )
    if modulo not in _AFFINE:
        raise ParameterError(
            f"lse_independence: modulo = {modulo!r}; allowed {list(_AFFINE)}."
            f"{suggest(modulo, _AFFINE)}"
        )


def _queries(laws, queries, K, scale, key, n_removed, modulo, max_bytes):
    r"""The query points, float64 array (K, d): given, or :math:`s \cdot \mathcal N(0, I)` from
    ``key`` with :math:`s = 3/R`; their number and the memory of the LSE matrix are checked before
    anything is drawn."""
    N, d = len(laws), laws[0].d
    if queries is None:
        if key is None:
            raise ParameterError(
                "lse_independence: key = None; allowed a jax.random key (or pass queries=)."
            )
        if scale is None:
            R = max(law.radius() for law in laws)  # radii are about the mean: centred ones
            scale = 3.0 / R if R > 0 else 3.0
        n_queries = K
    else:
        queries = jnp.asarray(as_float(queries, "lse_independence", "queries"), float)
        if queries.ndim != 2 or queries.shape[1] != d:
            raise ParameterError(
                f"lse_independence: queries have shape {tuple(queries.shape)}; allowed (K, {d})."
            )
        n_queries = queries.shape[0]
    if n_queries < N + n_removed:
        raise ParameterError(
            f"lse_independence: K = {n_queries} query points; allowed K >= N + {n_removed} = "
            f"{N + n_removed} (N = {N} inputs plus the {n_removed} dimensions of the "
            f"{modulo} functions removed); 10x that is advised."
        )
    atoms = sum(law.x.shape[0] if isinstance(law, Discrete) else 1 for law in laws)
    estimate = 8 * n_queries * (2 * atoms + 3 * N + d + 2)
    if estimate > max_bytes:
        raise ParameterError(
            f"lse_independence: estimated memory {estimate / 2**30:.2f} GiB for K = {n_queries} "
            f"queries and {atoms} atoms; allowed max_bytes = {max_bytes / 2**30:.2f} GiB. "
            "Use fewer queries or fewer atoms."
        )
    return scale * jax.random.normal(key, (n_queries, d)) if queries is None else queries


def _report(F, basis, modulo, centre, queries):
    nu = np.linalg.norm(F, axis=0)
    nu = np.where(nu > 0, nu, 1.0)
    Fn = F / nu
    Q, _ = np.linalg.qr(basis)
    R = Fn - Q @ (Q.T @ Fn)
    _, sigma, vt = np.linalg.svd(R, full_matrices=False)
    floor = DEPENDENT_BELOW
    if sigma[0] < floor:
        ratio = 0.0
    else:
        ratio = float(sigma[-1] / sigma[0])
    c = vt[-1] / nu
    c = c / np.linalg.norm(c)
    nullity = sigma.size if sigma[0] < floor else int(np.sum(sigma < floor * sigma[0]))
    return LSEReport(
        verdict(ratio), ratio, sigma, c, np.linalg.norm(R, axis=0), nullity, modulo, centre, queries
    )

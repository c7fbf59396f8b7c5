r"""Wasserstein distances between particle sets: the distances Results 1 and 3 are stated in.

* :func:`wasserstein` — :math:`W_p(\mu, \mu')` between two discrete measures
  :math:`\sum_k a_k \delta_{x_k}` and :math:`\sum_j b_j \delta_{y_j}`, by the exact linear
  programme of optimal transport (any weights);
* :func:`w2_equal_mass` — :math:`W_2` between two sets of :math:`n` particles of mass
  :math:`1/n` each, by optimal assignment (exact: for equal masses an optimal plan is a
  permutation);
* :func:`w_cot` — the conditional distance of the Model page,
  :math:`W_{\rm COT}(\nu, \nu')^2 = \int_0^1 W_2(\nu_s, \nu'_s)^2\,ds`, between two networks'
  head measures, layer by layer (mass moves in :math:`\theta`, never across layers).

They run on the host (NumPy and SciPy's assignment and LP solvers), on arrays already computed:
the distances are diagnostics of a finished run, never inside a jitted step.
"""

import numpy as np
from scipy.optimize import linear_sum_assignment, linprog

from .errors import ParameterError, SolveFailed
from .heads import Heads

__all__ = ["wasserstein", "w2_equal_mass", "w_cot", "w_cot_layers"]


def _points(name, x):
    x = np.asarray(x, float)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[0] < 1:
        raise ParameterError(f"{name}: shape {x.shape}; allowed (n, d) with n >= 1.")
    return x


def _cost(x, y, p):
    return np.linalg.norm(x[:, None, :] - y[None, :, :], axis=-1) ** p


def w2_equal_mass(x, y) -> float:
    r""":math:`W_2` between :math:`\frac1n\sum_k\delta_{x_k}` and
    :math:`\frac1n\sum_k\delta_{y_k}`: the optimal assignment's mean squared distance, rooted.

    Args:
        x, y: float arrays of shape (n, d) (or (n,) for d = 1), the same n.
    """
    x, y = _points("w2_equal_mass: x", x), _points("w2_equal_mass: y", y)
    if x.shape != y.shape:
        raise ParameterError(
            f"w2_equal_mass: x has shape {x.shape} and y has shape {y.shape}; allowed equal shapes "
            "(equal masses 1/n); use wasserstein() for other weights."
        )
    cost = _cost(x, y, 2)
    rows, cols = linear_sum_assignment(cost)
    return float(np.sqrt(cost[rows, cols].mean()))


def wasserstein(x, a, y, b, *, p: int = 2) -> float:
    r""":math:`W_p(\sum_k a_k\delta_{x_k}, \sum_j b_j\delta_{y_j})` by the exact optimal-transport
    linear programme (SciPy's HiGHS): :math:`\min_{\pi\ge0,\ \pi 1=a,\ \pi^\top 1=b}
    \sum_{kj}\pi_{kj}|x_k-y_j|^p`, to the power :math:`1/p`.

    Args:
        x: float array (n, d); a: weights (n,), non-negative, summing to one.
        y: float array (m, d); b: weights (m,), the same.
        p: the order, 1 or 2.
    """
    if p not in (1, 2):
        raise ParameterError(f"wasserstein: p = {p!r}; allowed 1 or 2.")
    x, y = _points("wasserstein: x", x), _points("wasserstein: y", y)
    a, b = np.asarray(a, float).ravel(), np.asarray(b, float).ravel()
    for name, w, pts in (("a", a, x), ("b", b, y)):
        if w.shape != (pts.shape[0],) or np.any(w < 0) or abs(w.sum() - 1) > 1e-12:
            raise ParameterError(
                f"wasserstein: {name} has shape {w.shape} and sum {w.sum():.3g}; allowed "
                f"({pts.shape[0]},) non-negative weights summing to 1."
            )
    if x.shape[1] != y.shape[1]:
        raise ParameterError(
            f"wasserstein: x in R^{x.shape[1]}, y in R^{y.shape[1]}; allowed equal d."
        )
    n, m = a.size, b.size
    rows = np.zeros((n + m, n * m))
    for k in range(n):
        rows[k, k * m : (k + 1) * m] = 1.0
    for j in range(m):
        rows[n + j, j::m] = 1.0
    # one marginal constraint is redundant; dropping it keeps the LP well posed
    res = linprog(
        _cost(x, y, p).ravel(),
        A_eq=rows[:-1],
        b_eq=np.concatenate([a, b])[:-1],
        bounds=(0, None),
        method="highs",
    )
    if res.status != 0:
        raise SolveFailed(f"wasserstein: the transport LP did not solve ({res.message}).")
    return float(max(res.fun, 0.0) ** (1 / p))


def _flat_heads(theta: Heads):
    A, V = np.asarray(theta.A), np.asarray(theta.V)
    L, M = A.shape[:2]
    return np.concatenate([A.reshape(L, M, -1), V.reshape(L, M, -1)], axis=-1)


def w_cot_layers(theta: Heads, theta_ref: Heads) -> np.ndarray:
    r""":math:`W_2(\nu_{s_\ell}, \nu'_{s_\ell})` for each layer :math:`\ell` (float array (L,)):
    the optimal assignment between the two layers' :math:`M` heads, :math:`\theta = (A, V)` in the
    Frobenius norm."""
    P, Q = _flat_heads(theta), _flat_heads(theta_ref)
    if P.shape != Q.shape:
        raise ParameterError(
            f"w_cot: heads of shapes {tuple(theta.A.shape)} and {tuple(theta_ref.A.shape)}; "
            "allowed equal (L, M, d, d)."
        )
    return np.array([w2_equal_mass(p, q) for p, q in zip(P, Q, strict=True)])


def w_cot(theta: Heads, theta_ref: Heads) -> float:
    r""":math:`W_{\rm COT}(\nu^{L,M}, \nu'^{L,M}) = (\frac1L\sum_\ell W_2(\nu_\ell,
    \nu'_\ell)^2)^{1/2}`, at most the synchronous distance
    :func:`~mftransformer.solver.diagnostics.sync_distance` (the identity assignment)."""
    return float(np.sqrt(np.mean(w_cot_layers(theta, theta_ref) ** 2)))

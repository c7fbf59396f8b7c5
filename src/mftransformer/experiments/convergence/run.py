"""Chapter 5, global convergence from a small initial loss: the lazy theory and the experiments on
one data set (lazy theory); the sweeps in ``ε``, ``M`` and ``L`` are in
:mod:`.scaling`, the task and the run analysis in :mod:`.setting`, the bands in :mod:`.claims`.

Task C (``Y_i = W X^i_1(ξ_0)``, ``R = |r|²/2N``) from the silent initialisation, labels next to
the initial outputs (``y = Y(ν_0) + ε ζ``), trained by mean-field gradient descent
``θ ← θ − η L M ∇R`` (:func:`~mftransformer.solver.gradflow.train`). The linearised (lazy)
prediction uses the NTK ``K(ν_0) = Σ_k λ_k u_k u_kᵀ`` and the gradient-descent factor of each mode:

.. math::

    R_{\\rm lin}(t) = \\frac1{2N}\\sum_k \\Big(1 - \\frac{\\eta\\lambda_k}N\\Big)^{2t/\\eta}
        (u_k^\\top r_0)^2 ,\\qquad
    \\text{rate} = -\\frac2\\eta \\log\\Big(1 - \\frac{\\eta\\lambda_0}N\\Big)
        = \\frac{2\\lambda_0}N + O(\\eta).

- :func:`injective`: one long run to the float64 floor; ``ntk_injective``, ``rate``,
  ``lazy_fit``, ``guaranteed_rate``, ``pl_along_run``, ``ntk_along_run``, ``distance_bound``,
  ``floor_reached``.
- :func:`stall`: a family whose LSEs are dependent (BB, CV); ``ntk_singular``,
  ``stall_plateau``, ``stall_direction``, ``stall_erosion``.
"""

import math

import numpy as np

from ...solver import gradflow, ntk
from ...solver.lazy import gd_rate, lazy_prediction, plateau
from ..checks import Check, Checks, Result, experiment, result_type
from . import setting
from .claims import CLAIMS
from .params import InjectiveParams, StallParams

__all__ = [
    "SECOND_MODE_SUPPRESSION",
    "TRANSIENT_SUPPRESSION",
    "EROSION_SUPPRESSION",
    "injective",
    "InjectiveResult",
    "stall",
    "StallResult",
]

#: lazy theory: the fit starts at t_a, when the second mode is 10^4 times below the first.
SECOND_MODE_SUPPRESSION = 1e4
#: lazy theory: the plateau is read from t_p, when the transient is 10^3 times below it.
TRANSIENT_SUPPRESSION = 1e3
#: the plateau's erosion is fitted from t_e, when the transient is 10^9 times below it.
EROSION_SUPPRESSION = 1e9


@result_type
class InjectiveResult(Result):
    lam: np.ndarray  # spectrum of K(ν_0), increasing
    lam0: float  # λ_0 = λ_min(K(ν_0))
    rate_predicted: float  # −(2/η) log(1 − η λ_0/N)
    rate_flow: float  # 2 λ_0 / N
    rate_fitted: float  # least-squares rate of log R on [t_a, t_stop]
    t_a: float
    t_stop: float  # last time with R > R_stop
    R0: float
    R_end: float
    lazy_dev: float  # max |R/R_lin − 1| on t <= t_lazy
    pl_min: float  # min ‖g‖² / (λ_0 R / N)
    lam_t: np.ndarray  # λ_min(K(ν^t)) at the snapshots
    distance: float  # D_sync(θ^T, θ^0)
    path: float  # Σ η ‖g_k‖
    distance_bound: float  # √(4 N R_0 / λ_0)
    guarantee_ratio: float  # max R(t) / (R_0 e^{−λ_0 t/N})
    lip_hat: float  # lower estimate of Lip_K


@result_type
class StallResult(Result):
    lam: np.ndarray
    R0: float
    R_inf: float  # the predicted plateau (cᵀ r_0)² / 2N
    R_end: float
    t_p: float
    plateau_dev: float  # max |R/R_inf − 1| on t >= t_p
    cos_T: float  # |cos(r_T, c)|
    cos_null: float  # |cos(u_0, c)|: the kernel's null vector against the predicted one
    t_e: float
    erosion: float  # fitted rate of log R on t >= t_e
    erosion_predicted: float  # 2 λ_min(K(ν_T)) / N
    lam_T: float
    N: int
    eps: float


# ---------------------------------------------------------------- experiments
@experiment
def injective(p: InjectiveParams, *, key) -> InjectiveResult:
    """One long run from a small initial loss on an injective data set, down to the float64
    floor: fitted rate against ``2λ_0/N`` (gradient-descent corrected), ``R`` against
    ``R_lin``, the PL ratio, ``λ_min(K(ν^t))``, the distance travelled."""
    mu, xi, W, theta0, targets = setting.task(p, key, p.eps)
    every = setting.every(p.steps, p.snapshots, "injective")
    h = gradflow.train(theta0, mu, xi, targets, eta=p.eta, steps=p.steps, snapshot_every=every)
    t, R, g2 = (np.asarray(v) for v in (h.t, h.R, h.g2))
    N, R0 = p.N, float(R[0])
    K0 = np.asarray(ntk.ntk_jacobian(theta0, mu, xi, W).K)
    lam = ntk.spectrum(K0)
    lam0 = float(lam[0])
    R_lin = lazy_prediction(K0, setting.residual(theta0, mu, xi, targets), t, eta=p.eta, N=N)
    v = _decay(p, t, R, g2, lam, R_lin)
    snaps = setting.unstack(h.snapshots)
    lam_t = np.array([ntk.spectrum(ntk.ntk_jacobian(th, mu, xi, W).K)[0] for th in snaps])
    D = setting.sync_distances(h.snapshots, theta0)
    path = float(np.sum(p.eta * np.sqrt(g2[:-1])))
    bound = math.sqrt(4 * N * R0 / lam0)
    checks = Checks(
        (
            CLAIMS["ntk_injective"].check(lam0 / float(lam[-1])),
            CLAIMS["rate"].check(v["rate_fitted"], target=v["rate_predicted"]),
            CLAIMS["lazy_fit"].check(v["lazy_dev"]),
            CLAIMS["guaranteed_rate"].check(v["guarantee_ratio"]),
            CLAIMS["pl_along_run"].check(v["pl_min"]),
            CLAIMS["ntk_along_run"].check(float(np.min(lam_t) / lam0)),
            _distance_check(float(D[-1]), path, bound),
            CLAIMS["floor_reached"].check(float(R[-1] / R0)),
        )
    )
    window = v.pop("window")
    data = {
        "t": t,
        "R": R,
        "R_lin": R_lin,
        "guaranteed": v.pop("guaranteed"),
        "pl": v.pop("pl"),
        "snapshot_t": np.asarray(h.snapshot_t),
        "lam_t": lam_t,
        "D": D,
        "fit_t": t[window],
        "fit_R": np.exp(setting.fit_line(t[window], R[window])),
    }
    return InjectiveResult(
        lam=lam,
        lam0=lam0,
        R0=R0,
        R_end=float(R[-1]),
        lam_t=lam_t,
        distance=float(D[-1]),
        path=path,
        distance_bound=bound,
        lip_hat=setting.lip_hat(lam_t, lam0, D),
        **v,
        data=data,
        check=checks,
    )


@experiment
def stall(p: StallParams, *, key) -> StallResult:
    """Training on a family whose LSEs are dependent: the residual's component along the null
    combination ``c`` is frozen, so ``R`` stalls at ``(cᵀ r_0)² / 2N`` (``ε²/20`` for BB)."""
    fam, mu, xi, W, theta0, targets = setting.stall_task(p, key)
    N = mu.B
    every = setting.every(p.steps, p.snapshots, "stall")
    h = gradflow.train(theta0, mu, xi, targets, eta=p.eta, steps=p.steps, snapshot_every=every)
    t, R = np.asarray(h.t), np.asarray(h.R)
    K0 = np.asarray(ntk.ntk_jacobian(theta0, mu, xi, W).K)
    lam = ntk.spectrum(K0)
    r0 = setting.residual(theta0, mu, xi, targets)
    R_inf, c = plateau(K0, r0, N=N, null=fam.null)
    _, U = np.linalg.eigh(0.5 * (K0 + K0.T))
    R0 = float(R[0])
    t_p = N / (2 * lam[1]) * math.log(TRANSIENT_SUPPRESSION * (R0 - R_inf) / R_inf)
    on = t >= t_p
    plateau_dev = float(np.max(np.abs(R[on] / R_inf - 1)))
    along, across, cos_T, lam_t = _along_null(h.snapshots, mu, xi, W, targets, c)
    # the erosion (relative 1e-4 over the run) is fitted once the transient is far below it
    t_e = N / (2 * lam[1]) * math.log(EROSION_SUPPRESSION * (R0 - R_inf) / R_inf)
    erosion = setting.fit_rate(t[t >= t_e], R[t >= t_e])
    erosion_predicted = 2 * float(lam_t[-1]) / N
    checks = Checks(
        (
            CLAIMS["ntk_singular"].check(float(lam[0] / lam[-1])),
            CLAIMS["stall_plateau"].check(plateau_dev),
            CLAIMS["stall_direction"].check(1 - cos_T),
            CLAIMS["stall_erosion"].check(erosion / erosion_predicted),
        )
    )
    data = {
        "t": t,
        "R": R,
        "R_lin": lazy_prediction(K0, r0, t, eta=p.eta, N=N),
        "snapshot_t": np.asarray(h.snapshot_t),
        "along": along,
        "across": across,
        "lam_t": lam_t,
    }
    return StallResult(
        lam=lam,
        R0=R0,
        R_inf=R_inf,
        R_end=float(R[-1]),
        t_p=t_p,
        plateau_dev=plateau_dev,
        cos_T=cos_T,
        cos_null=float(abs(U[:, 0] @ c)),
        t_e=t_e,
        erosion=erosion,
        erosion_predicted=erosion_predicted,
        lam_T=float(lam_t[-1]),
        N=N,
        eps=p.eps,
        data=data,
        check=checks,
    )


# ---------------------------------------------------------------- private
def _decay(p, t, R, g2, lam, R_lin) -> dict:
    """The decay of one run against the lazy theory: fitted and predicted rates, the deviation
    from ``R_lin``, the guaranteed decay and the PL ratio (and the arrays the figure needs)."""
    N, R0, lam0 = p.N, float(R[0]), float(lam[0])
    predicted = float(gd_rate(lam0, eta=p.eta, N=N))
    t_a = N * math.log(SECOND_MODE_SUPPRESSION) / (2 * (lam[1] - lam[0])) if lam.size > 1 else 0.0
    above = R > p.R_stop
    window = (t >= t_a) & above
    lazy = t <= p.t_lazy
    guaranteed = R0 * np.exp(-lam0 * t / N)
    later = above & (t > 0)  # equality at t = 0
    with np.errstate(divide="ignore", invalid="ignore"):  # R = 0 past the float64 floor
        pl = g2 / (lam0 * R / N)
    return {
        "rate_predicted": predicted,
        "rate_flow": 2 * lam0 / N,
        "rate_fitted": setting.fit_rate(t[window], R[window]),
        "t_a": t_a,
        "t_stop": float(t[above][-1]),
        "lazy_dev": float(np.max(np.abs(R[lazy] / R_lin[lazy] - 1))),
        "pl_min": float(np.min(pl[above])),
        "guarantee_ratio": float(np.max(R[later] / guaranteed[later])),
        "window": window,
        "guaranteed": guaranteed,
        "pl": pl,
    }


def _along_null(snapshots, mu, xi, W, targets, c):
    """The residual at each snapshot along ``c`` and across it, ``|cos(r_T, c)|``, and
    ``λ_min(K(ν^t))``."""
    snaps = setting.unstack(snapshots)
    r_t = np.stack([setting.residual(th, mu, xi, targets) for th in snaps])
    along = r_t @ c
    across = np.linalg.norm(r_t - along[:, None] * c[None], axis=1)
    cos_T = float(abs(along[-1]) / np.linalg.norm(r_t[-1]))
    lam_t = np.array([ntk.spectrum(ntk.ntk_jacobian(th, mu, xi, W).K)[0] for th in snaps])
    return along, across, cos_T, lam_t


def _distance_check(distance, path, bound) -> Check:
    """``D_sync(T) ≤ Σ η‖g_k‖ ≤ √(4 N R_0 / λ_0)``; prints the outer ratio."""
    claim = CLAIMS["distance_bound"]
    passed = distance <= path * (1 + claim.band) and path <= bound
    return Check(
        claim.name,
        path / bound,
        claim.expected,
        passed,
        f"{path / bound:.3f} (D/path = {distance / path:.3f})",
    )

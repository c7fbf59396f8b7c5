r"""Chapter 5, global convergence from a small initial loss: the lazy theory and the experiments on
one data set (lazy theory); the sweeps in :math:`\varepsilon`, :math:`M` and :math:`L` are in
:mod:`.scaling`, the task and the run analysis in :mod:`.setting`, the bands in :mod:`.claims`.

Task C (:math:`Y_i = W X^i_1(\xi_0)`, :math:`R = |r|^2/2N`) from the silent initialisation,
labels next to the initial outputs (:math:`y = Y(\nu_0) + \varepsilon \zeta`), trained by
mean-field gradient descent :math:`\theta \leftarrow \theta - \eta L M\, \nabla R`
(:func:`~mftransformer.solver.gradflow.train`). The linearised (lazy) prediction uses the NTK
:math:`K(\nu_0) = \sum_k \lambda_k u_k u_k^\top` and the gradient-descent factor of each mode:

.. math::

    R_{\rm lin}(t) = \frac1{2N}\sum_k \Big(1 - \frac{\eta\lambda_k}N\Big)^{2t/\eta}
        (u_k^\top r_0)^2 ,\qquad
    \text{rate} = -\frac2\eta \log\Big(1 - \frac{\eta\lambda_0}N\Big)
        = \frac{2\lambda_0}N + O(\eta).

- :func:`injective`: long runs on independent keys (data, heads, labels); ``ntk_injective``,
  ``rate``, ``lazy_fit``, ``guaranteed_rate``, ``pl_along_run``, ``ntk_along_run``,
  ``distance_bound``, each on the median of the keys with every key in its band.
- :func:`stall`: a family whose LSEs are dependent (BB, CV), on independent head draws;
  ``ntk_singular``, ``stall_plateau``, ``stall_direction``, ``stall_erosion``.
"""

import math

import numpy as np

from ...solver import ntk
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

#: lazy theory: the fit starts at :math:`t_a`, when the second mode is :math:`10^4` times below
#: the first.
SECOND_MODE_SUPPRESSION = 1e4
#: lazy theory: the plateau is read from :math:`t_p`, when the transient is :math:`10^3` times
#: below it.
TRANSIENT_SUPPRESSION = 1e3
#: the plateau's erosion is fitted from :math:`t_e`, when the transient is :math:`10^9` times
#: below it.
EROSION_SUPPRESSION = 1e9


@result_type
class InjectiveResult(Result):
    # one entry per key (an independent draw of data, heads and labels), key 0 first
    lam0: np.ndarray  # λ_0 = λ_min(K(ν_0))
    lam_ratio: np.ndarray  # λ_0 / λ_max
    rate_predicted: np.ndarray  # −(2/η) log(1 − η λ_0/N)
    rate_flow: np.ndarray  # 2 λ_0 / N
    rate_fitted: np.ndarray  # least-squares rate of log R on [t_a, t_stop] (NaN: no window)
    rate_ratio: np.ndarray  # rate_fitted / rate_predicted
    t_a: np.ndarray
    t_stop: np.ndarray  # last time with R > R_stop
    R0: np.ndarray
    R_end: np.ndarray
    lazy_dev: np.ndarray  # max |R/R_lin − 1| on t <= t_lazy
    pl_min: np.ndarray  # min ‖g‖² / (λ_0 R / N)
    ntk_min: np.ndarray  # min_t λ_min(K(ν^t)) / λ_0
    distance: np.ndarray  # D_sync(θ^T, θ^0)
    w_cot: np.ndarray  # W_COT(ν^T, ν_0)
    path: np.ndarray  # Σ η ‖g_k‖
    distance_bound: np.ndarray  # √(4 N R_0 / λ_0)
    guarantee_ratio: np.ndarray  # max R(t) / (R_0 e^{−λ_0 t/N})
    lip_hat: np.ndarray  # lower estimate of Lip_K with D_sync
    lip_hat_cot: np.ndarray  # with W_COT
    threshold: np.ndarray  # indicative λ_0³/(16 N Lip_K-hat²)
    keys: int


@result_type
class StallResult(Result):
    # one entry per key (an independent draw of the heads; of the random part of the family)
    lam_ratio: np.ndarray  # λ_min/λ_max of K(ν_0)
    R0: np.ndarray
    R_inf: np.ndarray  # the predicted plateau (cᵀ r_0)² / 2N
    R_end: np.ndarray
    t_p: np.ndarray
    plateau_dev: np.ndarray  # max |R/R_inf − 1| on t >= t_p
    cos_T: np.ndarray  # |cos(r_T, c)|
    cos_null: np.ndarray  # |cos(u_0, c)|: the kernel's null vector against the predicted one
    t_e: np.ndarray
    erosion: np.ndarray  # fitted rate of log R on t >= t_e
    erosion_predicted: np.ndarray  # 2 λ_min(K(ν_T)) / N
    erosion_ratio: np.ndarray
    lam_T: np.ndarray
    N: int
    eps: float
    keys: int


# ---------------------------------------------------------------- experiments
@experiment
def injective(p: InjectiveParams, *, key) -> InjectiveResult:
    r"""Long runs from a small initial loss on ``p.keys`` independent draws of the data, heads and
    labels (trained together under ``vmap``), over a long horizon: per key the fitted rate
    against :math:`2\lambda_0/N` (gradient-descent corrected), :math:`R` against
    :math:`R_{\rm lin}`, the PL ratio, :math:`\lambda_{\min}(K(\nu^t))`, the distance travelled
    and the indicative threshold; the checks pass on the median with every key in its band."""
    keys = setting.repetition_keys(key, p.keys)
    runs = [setting.task(p, k, p.eps) for k in keys]
    _, xi, W, _, _ = runs[0]
    every = setting.every(p.steps, p.snapshots, "injective")
    hist = setting.train_batch(
        setting.stack([r[3] for r in runs]),
        setting.stack([r[0] for r in runs]),
        xi,
        setting.stack([r[4] for r in runs]),
        eta=p.eta,
        steps=p.steps,
        every=every,
        where="injective",
    )
    per_key = [_injective_key(p, run, setting.index(hist, s)) for s, run in enumerate(runs)]
    v = {name: np.array([k[name] for k in per_key]) for name in per_key[0] if name != "data"}
    checks = Checks(
        (
            _keys_check("ntk_injective", v["lam_ratio"]),
            _keys_check("rate", v["rate_ratio"]),
            _keys_check("lazy_fit", v["lazy_dev"]),
            _keys_check("guaranteed_rate", v["guarantee_ratio"]),
            _keys_check("pl_along_run", v["pl_min"]),
            _keys_check("ntk_along_run", v["ntk_min"]),
            _keys_check("distance_bound", v["path"] / v["distance_bound"]),
        )
    )
    first = per_key[0]["data"]
    data = {
        **first,
        "lazy_t": first["t"][first["t"] <= p.t_lazy],
        "lazy_curves": np.stack([k["data"]["lazy_curve"] for k in per_key]),
        "pl_curves": np.stack([k["data"]["pl"] for k in per_key]),
        "lam_curves": np.stack([k["data"]["lam_t"] for k in per_key]) / v["lam0"][:, None],
        "lazy_dev": v["lazy_dev"],
        "R0": v["R0"],
        "threshold": v["threshold"],
    }
    return InjectiveResult(**v, keys=p.keys, data=data, check=checks)


@experiment
def stall(p: StallParams, *, key) -> StallResult:
    r"""Training on a family whose LSEs are dependent, from ``p.keys`` independent draws of the
    heads (trained together under ``vmap``): the residual's component along the null
    combination :math:`c` is frozen, so :math:`R` stalls at :math:`(c^\top r_0)^2 / 2N`
    (:math:`\varepsilon^2/20` for BB)."""
    runs = [setting.stall_task(p, k) for k in setting.repetition_keys(key, p.keys)]
    every = setting.every(p.steps, p.snapshots, "stall")
    hist = setting.train_batch(
        setting.stack([r[4] for r in runs]),
        setting.stack([r[1] for r in runs]),
        runs[0][2],
        setting.stack([r[5] for r in runs]),
        eta=p.eta,
        steps=p.steps,
        every=every,
        where="stall",
    )
    per_key = [_stall_key(p, run, setting.index(hist, s)) for s, run in enumerate(runs)]
    v = {name: np.array([k[name] for k in per_key]) for name in per_key[0] if name != "data"}
    checks = Checks(
        (
            _keys_check("ntk_singular", v["lam_ratio"]),
            _keys_check("stall_plateau", v["plateau_dev"]),
            _keys_check("stall_direction", 1 - v["cos_T"]),
            _keys_check("stall_erosion", v["erosion_ratio"]),
        )
    )
    N = runs[0][1].B
    return StallResult(**v, N=N, eps=p.eps, keys=p.keys, data=per_key[0]["data"], check=checks)


def _stall_key(p, run, h) -> dict:
    """The analysis of one key of :func:`stall`: its task ``run`` and history ``h``."""
    fam, mu, xi, W, theta0, targets = run
    N = mu.B
    t, R = np.asarray(h.t), np.asarray(h.R)
    K0 = np.asarray(ntk.ntk_jacobian(theta0, mu, xi, W).K)
    lam = ntk.spectrum(K0)
    r0 = setting.residual(theta0, mu, xi, targets)
    R_inf, c = plateau(K0, r0, N=N, null=fam.null)
    _, U = np.linalg.eigh(0.5 * (K0 + K0.T))
    R0 = float(R[0])
    t_p = N / (2 * lam[1]) * math.log(TRANSIENT_SUPPRESSION * (R0 - R_inf) / R_inf)
    on = t >= t_p
    plateau_dev = float(np.max(np.abs(R[on] / R_inf - 1))) if on.any() else float("nan")
    along, across, cos_T, lam_t = _along_null(h.snapshots, mu, xi, W, targets, c)
    # the erosion (relative 1e-4 over the run) is fitted once the transient is far below it
    t_e = N / (2 * lam[1]) * math.log(EROSION_SUPPRESSION * (R0 - R_inf) / R_inf)
    erosion = setting.fit_rate(t[t >= t_e], R[t >= t_e])
    erosion_predicted = 2 * float(lam_t[-1]) / N
    data = {
        "t": t,
        "R": R,
        "R_lin": lazy_prediction(K0, r0, t, eta=p.eta, N=N),
        "snapshot_t": np.asarray(h.snapshot_t),
        "along": along,
        "across": across,
        "lam_t": lam_t,
    }
    return {
        "lam_ratio": float(lam[0] / lam[-1]),
        "R0": R0,
        "R_inf": R_inf,
        "R_end": float(R[-1]),
        "t_p": t_p,
        "plateau_dev": plateau_dev,
        "cos_T": cos_T,
        "cos_null": float(abs(U[:, 0] @ c)),
        "t_e": t_e,
        "erosion": erosion,
        "erosion_predicted": erosion_predicted,
        "erosion_ratio": erosion / erosion_predicted,
        "lam_T": float(lam_t[-1]),
        "data": data,
    }


# ---------------------------------------------------------------- private
def _keys_check(name, values, target=None) -> Check:
    """``CLAIMS[name].check_keys(values)``; a key without a value (a NaN: e.g. no fit window
    before ``T``) fails the check, naming how many."""
    claim, values = CLAIMS[name], np.asarray(values, float)
    missing = int(np.sum(~np.isfinite(values)))
    if missing:
        return Check(
            name,
            float("nan"),
            f"a value on every key ({claim.doc})",
            False,
            f"no value on {missing} of {values.size} keys (raise steps)",
        )
    return claim.check_keys(values, target=target)


def _injective_key(p, run, h) -> dict:
    """The analysis of one key of :func:`injective`: its task ``run`` and history ``h``."""
    mu, xi, W, theta0, targets = run
    t, R, g2 = (np.asarray(x) for x in (h.t, h.R, h.g2))
    N, R0 = p.N, float(R[0])
    K0 = np.asarray(ntk.ntk_jacobian(theta0, mu, xi, W).K)
    lam = ntk.spectrum(K0)
    lam0 = float(lam[0])
    R_lin = lazy_prediction(K0, setting.residual(theta0, mu, xi, targets), t, eta=p.eta, N=N)
    v = _decay(p, t, R, g2, lam, R_lin)
    lam_t = setting.lam_min_along(h.snapshots, mu, xi, W)
    D = setting.sync_distances(h.snapshots, theta0)
    Wc = setting.cot_distances(h.snapshots, theta0)
    path = float(np.sum(p.eta * np.sqrt(g2[:-1])))
    lip = setting.lip_hat(lam_t, lam0, D)
    window = v.pop("window")
    lazy = t <= p.t_lazy
    data = {
        "t": t,
        "R": R,
        "R_lin": R_lin,
        "guaranteed": v.pop("guaranteed"),
        "pl": v.pop("pl"),
        "snapshot_t": np.asarray(h.snapshot_t),
        "lam_t": lam_t,
        "D": D,
        "W_cot": Wc,
        "fit_t": t[window],
        "fit_R": np.exp(setting.fit_line(t[window], R[window])) if window.sum() > 1 else t[window],
        "lazy_curve": R[lazy] / R_lin[lazy] - 1,
    }
    return {
        "lam0": lam0,
        "lam_ratio": lam0 / float(lam[-1]),
        "rate_ratio": v["rate_fitted"] / v["rate_predicted"],
        **v,
        "R0": R0,
        "R_end": float(R[-1]),
        "ntk_min": float(np.min(lam_t) / lam0),
        "distance": float(D[-1]),
        "w_cot": float(Wc[-1]),
        "path": path,
        "distance_bound": math.sqrt(4 * N * R0 / lam0),
        "lip_hat": lip,
        "lip_hat_cot": setting.lip_hat(lam_t, lam0, Wc),
        "threshold": setting.indicative_threshold(lam0, lip, N),
        "data": data,
    }


def _decay(p, t, R, g2, lam, R_lin) -> dict:
    r"""The decay of one run against the lazy theory: fitted and predicted rates, the deviation
    from :math:`R_{\rm lin}`, the guaranteed decay and the PL ratio (and the arrays the figure
    needs)."""
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
        "t_a": float(t_a),
        "t_stop": float(t[above][-1]),
        "lazy_dev": float(np.max(np.abs(R[lazy] / R_lin[lazy] - 1))),
        "pl_min": float(np.min(pl[above])),
        "guarantee_ratio": float(np.max(R[later] / guaranteed[later])),
        "window": window,
        "guaranteed": guaranteed,
        "pl": pl,
    }


def _along_null(snapshots, mu, xi, W, targets, c):
    r"""The residual at each snapshot along :math:`c` and across it, :math:`|\cos(r_T, c)|`, and
    :math:`\lambda_{\min}(K(\nu^t))`."""
    snaps = setting.unstack(snapshots)
    r_t = np.stack([setting.residual(th, mu, xi, targets) for th in snaps])
    along = r_t @ c
    across = np.linalg.norm(r_t - along[:, None] * c[None], axis=1)
    cos_T = float(abs(along[-1]) / np.linalg.norm(r_t[-1]))
    lam_t = np.array([ntk.spectrum(ntk.ntk_jacobian(th, mu, xi, W).K)[0] for th in snaps])
    return along, across, cos_T, lam_t

"""Chapter 5, the scaling experiments: the initial loss grown with ``ε`` (:func:`sweep`:
``lazy_scaling``, ``small_loss_regime``) and the rate as width and depth grow
(:func:`width_depth`: ``rate_tracks_ntk``, ``rate_meanfield``, ``rate_meanfield_decrease``).
Same task as :mod:`.run` (lazy theory); the bands are in :mod:`.claims`."""

import math

import jax
import jax.numpy as jnp
import numpy as np

from ...solver import gradflow, ntk, tasks
from ...solver.errors import ParameterError
from ...solver.lazy import gd_rate, lazy_prediction
from ..checks import Check, Checks, Result, experiment, fit_loglog, result_type
from . import setting
from .claims import CLAIMS
from .params import SweepParams, WidthDepthParams
from .run import SECOND_MODE_SUPPRESSION
from .setting import HEADS, NOISE

__all__ = ["sweep", "SweepResult", "width_depth", "WidthDepthResult"]


@result_type
class SweepResult(Result):
    eps: np.ndarray
    R0: np.ndarray  # initial loss per eps
    lazy_dev: np.ndarray  # max_t |R/R_lin − 1| per eps
    guarantee_held: np.ndarray  # R <= R_0 e^{−λ_0 t/N} throughout, per eps
    lam0: float
    lam_min: np.ndarray  # min_t λ_min(K(ν^t)) per eps
    lam_max: np.ndarray  # max_t λ_max(K(ν^t)) per eps
    distance: np.ndarray  # D_sync(θ^T, θ^0) per eps
    lip_hat: float  # lower estimate of Lip_K over the runs
    threshold: float  # the indicative small-loss threshold λ_0³/(16 N Lip_K²)
    inside: np.ndarray  # R0 <= threshold
    first_bad_step: np.ndarray
    scaling: float  # log-log slope of lazy_dev in eps over the two smallest eps
    eta_limit: np.ndarray  # 2N / λ_max per eps


@result_type
class WidthDepthResult(Result):
    configs: np.ndarray  # (L, M) per row
    LM: np.ndarray
    fitted: np.ndarray  # fitted rate per (config, seed)
    predicted: np.ndarray  # −(2/η) log(1 − η λ_0/N) per (config, seed)
    rate_inf: float  # the mean-field rate
    lam_inf: np.ndarray
    rms: np.ndarray  # RMS over seeds of fitted/rate_inf − 1 per config
    slope: float
    track: float  # max |fitted/predicted − 1|
    rms_small: float  # pooled RMS at the smallest L M
    rms_large: float  # at the largest


@experiment
def sweep(p: SweepParams, *, key) -> SweepResult:
    """One data set and one initialisation; labels ``Y(ν_0) + ε ζ`` with the same ``ζ`` and
    growing ``ε`` (so ``R_0 ∝ ε²`` and ``R_lin/R_0`` is the same curve). Records, per ``ε``, the
    deviation from ``R_lin``, whether the guaranteed decay ``R_0 e^{−λ_0 t/N}`` held, the kernel
    along the run, and an *indicative* threshold ``λ_0³/(16 N Lip_K²)`` with ``Lip_K`` estimated
    from below (so the threshold from above)."""
    eps = np.array(p.eps, float)
    if eps.size < 2 or np.any(np.diff(eps) <= 0):
        raise ParameterError(f"sweep: eps = {list(p.eps)}; allowed at least two increasing values.")
    mu, xi, W, theta0, _ = setting.task(p, key, 1.0)
    zeta = jax.random.normal(jax.random.fold_in(key, NOISE), (p.N, 1))
    K0 = np.asarray(ntk.ntk_jacobian(theta0, mu, xi, W).K)
    lam = ntk.spectrum(K0)
    lam0, N = float(lam[0]), p.N
    every = setting.every(p.steps, p.snapshots, "sweep")
    runs = [_sweep_run(p, theta0, mu, xi, W, zeta, K0, lam0, float(e), every) for e in eps]
    dev, held = [r["dev"] for r in runs], [r["held"] for r in runs]
    R0 = eps**2 * float(np.sum(np.asarray(zeta) ** 2)) / (2 * N)
    lip = float(np.max([r["lip"] for r in runs]))
    threshold = lam0**3 / (16 * N * lip**2)
    inside = R0 <= threshold
    scaling = math.log(dev[1] / dev[0]) / math.log(eps[1] / eps[0])
    checks = Checks(
        (
            CLAIMS["lazy_scaling"].check(scaling),
            _regime_check(np.array(held)[inside]),
        )
    )
    t, R_lin = runs[-1]["t"], runs[-1]["R_lin"]
    lam_max = np.array([r["lam_max"] for r in runs])
    values = {
        "eps": eps,
        "R0": R0,
        "lazy_dev": np.array(dev),
        "guarantee_held": np.array(held),
        "lam0": lam0,
        "lam_min": np.array([r["lam_min"] for r in runs]),
        "lam_max": lam_max,
        "distance": np.array([r["D_T"] for r in runs]),
        "lip_hat": lip,
        "threshold": threshold,
        "inside": inside,
        "first_bad_step": np.array([r["bad"] for r in runs]),
        "scaling": scaling,
        "eta_limit": 2 * N / lam_max,
    }
    data = {
        "t": t,
        "R_over_R0": np.stack([r["curve"] for r in runs]),
        "R_lin_over_R0": R_lin / R_lin[0],
        "guaranteed": np.exp(-lam0 * t / N),
        "eps": eps,
        "R0": R0,
        "lazy_dev": np.array(dev),
        "threshold": np.array(threshold),
    }
    return SweepResult(**values, data=data, check=checks)


@experiment
def width_depth(p: WidthDepthParams, *, key) -> WidthDepthResult:
    """The fitted rate of ``log R`` as the width ``M`` (at depth ``L_width``) and the depth ``L``
    (at width ``M_depth``) grow, ``seeds`` head draws each, against (i) each network's own
    ``2λ_0/N`` and (ii) the mean-field rate ``2λ_min(K^∞)/N`` (Gauss–Hermite, Model: NTK).
    At the silent point the heads of all layers are i.i.d., so the deviation from the mean field
    is a Monte Carlo error over ``LM/2`` pairs: ``∝ (LM)^{-1/2}`` through width or depth."""
    mu, xi, W = setting.data(p, key)
    zeta = jax.random.normal(jax.random.fold_in(key, NOISE), (p.N, 1))
    N = p.N
    K_inf = np.asarray(
        ntk.ntk_infinite_width(
            mu, jnp.asarray(p.xi0), W, sigma_A=p.sigma_A, sigma_V=p.sigma_V, nodes=p.nodes
        ).K
    )
    lam_inf = ntk.spectrum(K_inf)
    rate_inf = float(gd_rate(lam_inf[0], eta=p.eta, N=N))
    configs = [(p.L_width, M) for M in p.Ms] + [(L, p.M_depth) for L in p.Ls]
    line = np.array([0] * len(p.Ms) + [1] * len(p.Ls))
    fitted = np.zeros((len(configs), p.seeds))
    predicted = np.zeros_like(fitted)
    for i, (L, M) in enumerate(configs):
        fitted[i], predicted[i] = _config_rates(p, key, i, L, M, mu, xi, W, zeta)
    LM = np.array([L * M for L, M in configs], float)
    rms = np.sqrt(np.mean((fitted / rate_inf - 1) ** 2, axis=1))
    fit = fit_loglog(LM, rms)
    pooled = {x: float(np.sqrt(np.mean((fitted[LM == x] / rate_inf - 1) ** 2))) for x in set(LM)}
    small, large = pooled[LM.min()], pooled[LM.max()]
    track = float(np.max(np.abs(fitted / predicted - 1)))
    checks = Checks(
        (
            CLAIMS["rate_tracks_ntk"].check(track if np.isfinite(track) else np.inf),
            CLAIMS["rate_meanfield"].check(large),
            CLAIMS["rate_meanfield_decrease"].check(large / small),
        )
    )
    values = {
        "configs": np.array(configs),
        "LM": LM,
        "fitted": fitted,
        "predicted": predicted,
        "rate_inf": rate_inf,
        "lam_inf": lam_inf,
        "rms": rms,
        "slope": fit.slope,
        "track": track,
        "rms_small": small,
        "rms_large": large,
    }
    data = {
        "LM": LM,
        "line": line,
        "fitted": fitted,
        "predicted": predicted,
        "rate_inf": np.array(rate_inf),
        "rms": rms,
        "rms_fit": fit(LM),
    }
    return WidthDepthResult(**values, data=data, check=checks)


# ---------------------------------------------------------------- private
def _sweep_run(p, theta0, mu, xi, W, zeta, K0, lam0, e, every) -> dict:
    """One run of :func:`sweep` at label offset ``e``: its curve, deviation from ``R_lin``,
    whether the guaranteed decay held, the kernel and the distance along it."""
    N = p.N
    targets = tasks.small_loss_targets(theta0, mu, xi, W, eps=e, zeta=zeta)
    h = gradflow.train(
        theta0, mu, xi, targets, eta=p.eta, steps=p.steps, snapshot_every=every, throw=False
    )
    t, R = np.asarray(h.t), np.asarray(h.R)
    r0 = setting.residual(theta0, mu, xi, targets)
    R_lin = lazy_prediction(K0, r0, t, eta=p.eta, N=N)
    snaps = setting.unstack(h.snapshots)
    spectra = [ntk.spectrum(ntk.ntk_jacobian(th, mu, xi, W).K) for th in snaps]
    lam_t = np.array([s[0] for s in spectra])
    D = setting.sync_distances(h.snapshots, theta0)
    return {
        "t": t,
        "R_lin": R_lin,
        "curve": R / R[0],
        "dev": float(np.max(np.abs(R / R_lin - 1))),
        "held": bool(np.all(R <= R[0] * np.exp(-lam0 * t / N))),
        "lam_min": float(np.min(lam_t)),
        "lam_max": float(np.max([s[-1] for s in spectra])),
        "D_T": float(D[-1]),
        "lip": setting.lip_hat(lam_t, lam0, D),
        "bad": int(h.first_bad_step),
    }


def _config_rates(p, key, i, L, M, mu, xi, W, zeta):
    """Fitted and predicted rates of ``seeds`` head draws of one ``(L, M)`` of :func:`width_depth`
    (the seeds trained together under ``vmap``)."""
    N = p.N
    keys = jax.random.split(jax.random.fold_in(jax.random.fold_in(key, HEADS), i), p.seeds)
    thetas = jax.vmap(
        lambda k: tasks.silent_init(L, M, p.d, key=k, sigma_A=p.sigma_A, sigma_V=p.sigma_V)
    )(keys)
    targets = tasks.small_loss_targets(setting.index(thetas, 0), mu, xi, W, eps=p.eps, zeta=zeta)
    # silent heads all give Y(ν_0) = W ξ_0, hence the same labels for every seed
    R = np.asarray(
        jax.vmap(
            lambda th: gradflow.train(th, mu, xi, targets, eta=p.eta, steps=p.steps, throw=False).R
        )(thetas)
    )
    t = p.eta * np.arange(p.steps + 1)
    fitted, predicted = np.zeros(p.seeds), np.zeros(p.seeds)
    for s in range(p.seeds):
        lam = ntk.spectrum(ntk.ntk_silent(setting.index(thetas, s), mu, xi, W).K)
        predicted[s] = gd_rate(lam[0], eta=p.eta, N=N)
        t_a = N * math.log(SECOND_MODE_SUPPRESSION) / (2 * (lam[1] - lam[0]))
        window = t >= t_a
        fitted[s] = setting.fit_rate(t[window], R[s, window]) if window.sum() >= 10 else np.nan
    return fitted, predicted


def _regime_check(held) -> Check:
    """Every run below the indicative threshold kept ``R ≤ R_0 e^{−λ_0 t/N}`` (none: FAIL)."""
    claim = CLAIMS["small_loss_regime"]
    passed = bool(held.size and held.all())
    return Check(
        claim.name,
        float(held.mean()) if held.size else 0.0,
        claim.expected,
        passed,
        f"{int(held.sum())}/{held.size} runs",
    )

r"""Chapter 5, the scaling experiments: the initial loss grown with :math:`\varepsilon`
(:func:`sweep`: ``lazy_scaling``, ``small_loss_regime``) and the rate as width and depth grow
(:func:`width_depth`: ``rate_tracks_ntk``, ``rate_meanfield``, ``rate_meanfield_decrease``).
Same task as :mod:`.run` (lazy theory); the bands are in :mod:`.claims`."""

import math

import jax
import jax.numpy as jnp
import numpy as np

from ...solver import distances, gradflow, ntk, tasks
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
    # arrays (keys, eps): one row per key (an independent draw of data, heads and ζ)
    eps: np.ndarray
    R0: np.ndarray  # initial loss per run
    lazy_dev: np.ndarray  # max_t |R/R_lin − 1| per run
    guarantee_held: np.ndarray  # R <= R_0 e^{−λ_0 t/N} throughout, per run
    lam0: np.ndarray  # λ_0 per key
    lam_min: np.ndarray  # min_t λ_min(K(ν^t)) per run
    lam_max: np.ndarray  # max_t λ_max(K(ν^t)) per run
    distance: np.ndarray  # D_sync(θ^T, θ^0) per run
    w_cot: np.ndarray  # W_COT(ν^T, ν_0) per run
    lip_hat: np.ndarray  # lower estimate of Lip_K per run
    threshold: np.ndarray  # each run's indicative threshold λ_0³/(16 N Lip_K-hat²)
    inside: np.ndarray  # R0 <= threshold, per run
    first_bad_step: np.ndarray
    scaling: np.ndarray  # per key: log-log slope of lazy_dev in eps over eps <= eps_lazy
    eta_limit: np.ndarray  # 2N / λ_max per run
    keys: int


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
    r"""Per key (``p.keys`` independent draws of data, heads and :math:`\zeta`), labels
    :math:`Y(\nu_0) + \varepsilon \zeta` with growing :math:`\varepsilon` (so
    :math:`R_0 \propto \varepsilon^2` and :math:`R_{\rm lin}/R_0` is one curve per key); all runs
    trained together under ``vmap``. Records, per run, the deviation from :math:`R_{\rm lin}`,
    whether the guaranteed decay :math:`R_0 e^{-\lambda_0 t/N}` held, the kernel along the run,
    the distance travelled, and the run's *indicative* threshold
    :math:`\lambda_0^3/(16 N \mathrm{Lip}_K^2)` with :math:`\mathrm{Lip}_K` estimated from below
    on that run (so the threshold from above)."""
    eps = np.array(p.eps, float)
    if eps.size < 2 or np.any(np.diff(eps) <= 0):
        raise ParameterError(f"sweep: eps = {list(p.eps)}; allowed at least two increasing values.")
    keys = setting.repetition_keys(key, p.keys)
    tasks_ = [_sweep_task(p, k) for k in keys]
    every = setting.every(p.steps, p.snapshots, "sweep")
    runs = [(task_, e) for task_ in tasks_ for e in eps]
    hist = setting.train_batch(
        setting.stack([task_["theta0"] for task_, _ in runs]),
        setting.stack([task_["mu"] for task_, _ in runs]),
        tasks_[0]["xi"],
        setting.stack([_targets(task_, e) for task_, e in runs]),
        eta=p.eta,
        steps=p.steps,
        every=every,
        where="sweep",
        throw=False,
    )
    out = [_sweep_run(p, task_, e, setting.index(hist, r)) for r, (task_, e) in enumerate(runs)]
    grid = {
        name: np.array([o[name] for o in out]).reshape(p.keys, eps.size)
        for name in out[0]
        if name not in ("t", "R_lin", "curve", "lam_t", "D")
    }
    lazy = eps <= p.eps_lazy
    scaling = np.array([fit_loglog(eps[lazy], dev[lazy]).slope for dev in grid["dev"]])
    inside = grid["R0"] <= grid["threshold"]
    checks = Checks(
        (
            CLAIMS["lazy_scaling"].check_keys(scaling),
            _regime_check(grid["held"][inside], inside.size),
        )
    )
    values = {
        "eps": eps,
        "R0": grid["R0"],
        "lazy_dev": grid["dev"],
        "guarantee_held": grid["held"],
        "lam0": np.array([task_["lam0"] for task_ in tasks_]),
        "lam_min": grid["lam_min"],
        "lam_max": grid["lam_max"],
        "distance": grid["D_T"],
        "w_cot": grid["W_T"],
        "lip_hat": grid["lip"],
        "threshold": grid["threshold"],
        "inside": inside,
        "first_bad_step": grid["bad"],
        "scaling": scaling,
        "eta_limit": 2 * p.N / grid["lam_max"],
        "keys": p.keys,
    }
    first = out[: eps.size]  # key 0
    t = first[0]["t"]
    data = {
        "t": t,
        "R_over_R0": np.stack([o["curve"] for o in first]),
        "R_lin_over_R0": first[0]["R_lin"] / first[0]["R_lin"][0],
        "guaranteed": np.exp(-float(tasks_[0]["lam0"]) * t / p.N),
        "eps": eps,
        "eps_lazy": np.array(p.eps_lazy),
        "R0": grid["R0"],
        "lazy_dev": grid["dev"],
        "threshold": grid["threshold"],
        # the kernel's drift against the distance travelled, every snapshot of every run
        "drift_D": np.stack([o["D"] for o in out]).reshape(p.keys, eps.size, -1),
        "drift_lam": np.stack([o["lam_t"] for o in out]).reshape(p.keys, eps.size, -1),
        "lam0": values["lam0"],
    }
    return SweepResult(**values, data=data, check=checks)


@experiment
def width_depth(p: WidthDepthParams, *, key) -> WidthDepthResult:
    r"""The fitted rate of :math:`\log R` as the width :math:`M` (at depth ``L_width``) and the
    depth :math:`L` (at width ``M_depth``) grow, ``seeds`` head draws each, against (i) each
    network's own :math:`2\lambda_0/N` and (ii) the mean-field rate
    :math:`2\lambda_{\min}(K^\infty)/N` (Gauss–Hermite, Model: NTK). At the silent point the heads
    of all layers are i.i.d., so the deviation from the mean field is a Monte Carlo error over
    :math:`LM/2` pairs: :math:`\propto (LM)^{-1/2}` through width or depth."""
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
def _sweep_task(p, key) -> dict:
    r"""One key of :func:`sweep`: data, silent heads, the label direction :math:`\zeta` and
    :math:`K(\nu_0)`."""
    mu, xi, W, theta0, _ = setting.task(p, key, 1.0)
    zeta = jax.random.normal(jax.random.fold_in(key, NOISE), (p.N, 1))
    K0 = np.asarray(ntk.ntk_jacobian(theta0, mu, xi, W).K)
    lam0 = float(ntk.spectrum(K0)[0])
    return {"mu": mu, "xi": xi, "W": W, "theta0": theta0, "zeta": zeta, "K0": K0, "lam0": lam0}


def _targets(task_, e):
    r"""The labels :math:`Y(\nu_0) + e \zeta` of one run of :func:`sweep`."""
    return tasks.small_loss_targets(
        task_["theta0"], task_["mu"], task_["xi"], task_["W"], eps=float(e), zeta=task_["zeta"]
    )


def _sweep_run(p, task_, e, h) -> dict:
    r"""One run of :func:`sweep` at label offset :math:`e`, from its history ``h``: its curve,
    deviation from :math:`R_{\rm lin}`, whether the guaranteed decay held, the kernel, the
    distance and the run's indicative threshold."""
    N, lam0 = p.N, task_["lam0"]
    mu, xi, W, theta0 = task_["mu"], task_["xi"], task_["W"], task_["theta0"]
    t, R = np.asarray(h.t), np.asarray(h.R)
    r0 = setting.residual(theta0, mu, xi, _targets(task_, e))
    R_lin = lazy_prediction(task_["K0"], r0, t, eta=p.eta, N=N)
    bad = int(h.first_bad_step)
    # a diverged run (the step above 2N/λ_max): only the snapshots before it broke
    kept = np.asarray(h.snapshot_t) < (t[bad] if bad >= 0 else np.inf)
    snaps = [th for th, k in zip(setting.unstack(h.snapshots), kept, strict=True) if k]
    spectra = [ntk.spectrum(ntk.ntk_jacobian(th, mu, xi, W).K) for th in snaps]
    lam_t = np.full(kept.size, np.nan)
    lam_t[kept] = [s[0] for s in spectra]
    D = np.where(kept, setting.sync_distances(h.snapshots, theta0), np.nan)
    # no estimate from a run that broke before its first moved snapshot
    lip = setting.lip_hat(lam_t[kept], lam0, D[kept]) if bad < 0 else float("nan")
    with np.errstate(divide="ignore", invalid="ignore"):
        dev = float(np.max(np.abs(R / R_lin - 1)))
    return {
        "t": t,
        "R_lin": R_lin,
        "curve": R / R[0],
        "lam_t": lam_t,
        "D": D,
        "R0": float(R[0]),
        "dev": dev,
        "held": bool(bad < 0 and np.all(R <= R[0] * np.exp(-lam0 * t / N))),
        "lam_min": float(np.nanmin(lam_t)),
        "lam_max": float(np.max([s[-1] for s in spectra])),
        "D_T": float(D[kept][-1]),
        "W_T": distances.w_cot(snaps[-1], theta0),
        "lip": lip,
        "threshold": setting.indicative_threshold(lam0, lip, N) if bad < 0 else float("nan"),
        "bad": bad,
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


def _regime_check(held, runs) -> Check:
    r"""Every run below its indicative threshold kept
    :math:`R \le R_0 e^{-\lambda_0 t/N}` (none: FAIL)."""
    claim = CLAIMS["small_loss_regime"]
    passed = bool(held.size and held.all())
    return Check(
        claim.name,
        float(held.mean()) if held.size else 0.0,
        claim.expected,
        passed,
        f"{int(held.sum())}/{held.size} runs below their threshold (of {runs})",
    )

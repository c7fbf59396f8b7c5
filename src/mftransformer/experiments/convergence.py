"""Chapter 5, global convergence from a small initial loss: experiments, checks, figures
(MATH.md §6, §7 "Chapter 5").

Task C (``Y_i = W X^i_1(ξ_0)``, ``R = |r|²/2N``) from the silent initialisation, labels next to
the initial outputs (``y = Y(ν_0) + ε ζ``), trained by mean-field gradient descent
``θ ← θ − η L M ∇R`` (:func:`~mftransformer.solver.gradflow.train`). The linearised (lazy) prediction
uses the NTK ``K(ν_0) = Σ_k λ_k u_k u_kᵀ`` and the gradient-descent factor of each mode:

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
- :func:`sweep`: the initial loss grows with ``ε``; ``lazy_scaling``, ``small_loss_regime``.
- :func:`width_depth`: the fitted rate as ``M`` and ``L`` grow; ``rate_tracks_ntk``,
  ``rate_meanfield``, ``rate_meanfield_decrease``.
"""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

from ..companion.params import param
from ..solver import families, gradflow, ntk, tasks
from ..solver.attention import Heads
from ..solver.errors import ParameterError
from ..solver.measures import sample_cloud
from .checks import Check, Checks, Result, experiment, fit_loglog

__all__ = [
    "Params",
    "lazy_prediction",
    "gd_rate",
    "plateau",
    "injective",
    "stall",
    "sweep",
    "width_depth",
    "plot_injective",
    "plot_stall",
    "plot_sweep",
    "plot_width_depth",
]

# Role tags folded into an experiment's key (STYLE.md §7): fixed integers, never reused.
DATA, HEADS, NOISE = 0, 1, 2
#: MATH.md §6: the fit starts at t_a, when the second mode is 10^4 times below the first.
SECOND_MODE_SUPPRESSION = 1e4
#: MATH.md §6: the plateau is read from t_p, when the transient is 10^3 times below it.
TRANSIENT_SUPPRESSION = 1e3
#: the plateau's erosion is fitted from t_e, when the transient is 10^9 times below it.
EROSION_SUPPRESSION = 1e9
#: MATH.md §7 criteria, with their reasons.
INJECTIVE_RATIO = 1e-6  # λ_0/λ_max above this: injective (below 1e-12: singular, ch. 4)
SINGULAR_RATIO = 1e-12  # λ_min/λ_max below this: an exact dependency (round-off level)
RATE_RTOL = 0.05  # late rate = 2λ_min(K(ν_∞))/N = 2λ_0/N + O(ε); 1-2 % at ε = 1e-2
LAZY_FIT_TOL = 0.10  # |R/R_lin − 1| = O(ε) on t ≤ t_lazy; 4 % measured at ε = 1e-2
LAZY_SCALING = (0.7, 1.3)  # log-log slope of that deviation in ε: 1 (MATH: ratio in [5, 20])
STALL_RTOL = 0.01  # plateau within 1 % of (cᵀr_0)²/2N (measured 0.2 %)
STALL_ANGLE = 1e-3  # residual direction: 1 − |cos(r_T, c)| below this
EROSION_RTOL = 0.10  # plateau erosion rate against 2λ_min(K(ν_T))/N
MEANFIELD_RTOL = 0.15  # RMS deviation from the mean-field rate at the largest LM (6.6 %
# at LM = 512: Monte Carlo over LM/2 head pairs, plus a λ_min bias)
FLOOR_DECAY = 1e-20  # R(T)/R_0 below this: the run reached the float64 floor


# ---------------------------------------------------------------- parameters
@dataclasses.dataclass(frozen=True)
class InjectiveParams:
    N: int = param("number of contexts (inputs)", ge=1)
    n: int = param("atoms per context, ~ N(0, scale^2 I) with Dirichlet(1) weights", ge=1)
    d: int = param("token dimension", ge=1)
    scale: float = param("standard deviation of the atoms", gt=0)
    xi0: tuple[float, ...] = param("the common query xi_0 (d numbers)")
    W: tuple[float, ...] = param("the readout W (d numbers, d_out = 1)")
    sigma_A: float = param("silent init: entries of A ~ N(0, sigma_A^2/d)", gt=0)
    sigma_V: float = param("silent init: entries of V ~ N(0, sigma_V^2/d)", gt=0)
    L: int = param("layers", ge=1)
    M: int = param("heads per layer (even: mirrored pairs)", ge=2)
    eps: float = param("label offset: y = Y(nu_0) + eps zeta", gt=0)
    eta: float = param("gradient-descent step in training time", gt=0)
    steps: int = param("gradient-descent steps (T = steps * eta)", ge=1)
    snapshots: int = param("NTK checkpoints along the run (divides steps)", ge=1)
    t_lazy: float = param("lazy_fit compares R with R_lin on t <= t_lazy", gt=0)
    R_stop: float = param("fits and ratios use R > R_stop (above the float64 floor)", gt=0)


@dataclasses.dataclass(frozen=True)
class StallParams:
    family: str = param("a family whose LSEs are dependent (MATH.md §5.5)", choices=("BB", "CV"))
    xi0: tuple[float, ...] = param("the common query xi_0 (2 numbers)")
    W: tuple[float, ...] = param("the readout W (2 numbers, d_out = 1)")
    sigma_A: float = param("silent init: entries of A ~ N(0, sigma_A^2/d)", gt=0)
    sigma_V: float = param("silent init: entries of V ~ N(0, sigma_V^2/d)", gt=0)
    L: int = param("layers", ge=1)
    M: int = param("heads per layer (even)", ge=2)
    eps: float = param("labels y = W xi_0 + eps (1, ..., 1)", gt=0)
    eta: float = param("gradient-descent step", gt=0)
    steps: int = param("gradient-descent steps", ge=1)
    snapshots: int = param("residual and NTK checkpoints (divides steps)", ge=1)


@dataclasses.dataclass(frozen=True)
class SweepParams:
    N: int = param("number of contexts", ge=1)
    n: int = param("atoms per context", ge=1)
    d: int = param("token dimension", ge=1)
    scale: float = param("standard deviation of the atoms", gt=0)
    xi0: tuple[float, ...] = param("the common query xi_0 (d numbers)")
    W: tuple[float, ...] = param("the readout W (d numbers)")
    sigma_A: float = param("silent init: entries of A ~ N(0, sigma_A^2/d)", gt=0)
    sigma_V: float = param("silent init: entries of V ~ N(0, sigma_V^2/d)", gt=0)
    L: int = param("layers", ge=1)
    M: int = param("heads per layer (even)", ge=2)
    eps: tuple[float, ...] = param(
        "label offsets, increasing (the two smallest give lazy_scaling)", gt=0
    )
    eta: float = param("gradient-descent step", gt=0)
    steps: int = param("gradient-descent steps", ge=1)
    snapshots: int = param("NTK checkpoints per run (divides steps)", ge=1)


@dataclasses.dataclass(frozen=True)
class WidthDepthParams:
    N: int = param("number of contexts", ge=1)
    n: int = param("atoms per context", ge=1)
    d: int = param("token dimension", ge=1, le=3)
    scale: float = param("standard deviation of the atoms", gt=0)
    xi0: tuple[float, ...] = param("the common query xi_0 (d numbers)")
    W: tuple[float, ...] = param("the readout W (d numbers)")
    sigma_A: float = param("silent init: entries of A ~ N(0, sigma_A^2/d)", gt=0)
    sigma_V: float = param("silent init: entries of V ~ N(0, sigma_V^2/d)", gt=0)
    L_width: int = param("depth of the width line", ge=1)
    Ms: tuple[int, ...] = param("heads per layer on the width line (even)", ge=2)
    M_depth: int = param("heads per layer of the depth line (even)", ge=2)
    Ls: tuple[int, ...] = param("depths on the depth line", ge=1)
    seeds: int = param("independent head draws per (L, M)", ge=2)
    eps: float = param("label offset (small: the lazy regime)", gt=0)
    eta: float = param("gradient-descent step", gt=0)
    steps: int = param("gradient-descent steps", ge=1)
    nodes: int = param("Gauss-Hermite nodes per axis of the mean-field NTK", ge=8)


@dataclasses.dataclass(frozen=True)
class Params:
    seed: int = param("root of every random draw of the chapter", ge=0)
    injective: InjectiveParams = param("exponential decay on an injective data set")
    stall: StallParams = param("the stall when injectivity fails")
    sweep: SweepParams = param("increasing the initial loss")
    width_depth: WidthDepthParams = param("the rate as M and L grow")


# ---------------------------------------------------------------- lazy theory
def gd_rate(lam, *, eta: float, N: int):
    """Decay rate of ``R`` along a mode of eigenvalue ``λ`` under gradient descent.

    .. math::

        -\\frac2\\eta\\log\\Big(1 - \\frac{\\eta\\lambda}N\\Big)
        \\xrightarrow[\\eta\\to0]{} \\frac{2\\lambda}N

    Raises:
        ParameterError: ``η λ / N ≥ 1`` (the mode does not decay monotonically).
    """
    lam = np.asarray(lam, float)
    if np.any(eta * lam / N >= 1):
        raise ParameterError(
            f"gd_rate: eta * lambda / N = {float(np.max(eta * lam / N)):.3g}; allowed < 1. "
            f"Lower eta below N / lambda_max = {N / float(np.max(lam)):.3g}."
        )
    return -2.0 * np.log1p(-eta * lam / N) / eta


def lazy_prediction(K, r0, t, *, eta: float | None, N: int):
    """The linearised risk ``R_lin(t)`` from ``K(ν_0)`` and ``r_0`` (MATH.md §6).

    .. math::

        R_{\\rm lin}(t) = \\frac1{2N}\\sum_k \\Big(1 - \\frac{\\eta\\lambda_k}N\\Big)^{2t/\\eta}
            (u_k^\\top r_0)^2

    (``e^{−2λ_k t/N}`` for the flow, ``η = None``).

    Args:
        K: the NTK ``(N d_out, N d_out)``; r0: initial residual ``(N d_out,)``; t: times ``(T,)``.
        eta: gradient-descent step, or None for the flow.
        N: number of inputs (the ``1/N`` of the risk).

    Raises:
        ParameterError: shapes of ``K`` and ``r0`` that do not match.
    """
    K, r0, t = np.asarray(K, float), np.asarray(r0, float).reshape(-1), np.asarray(t, float)
    if K.shape != (r0.size, r0.size):
        raise ParameterError(
            f"lazy_prediction: K has shape {K.shape} and r0 has {r0.size} entries; allowed K "
            f"({r0.size}, {r0.size})."
        )
    lam, U = np.linalg.eigh(0.5 * (K + K.T))
    lam = np.clip(lam, 0.0, None)
    if eta is None:
        rates = 2.0 * lam / N
    else:
        rates = -2.0 * np.log1p(-np.minimum(eta * lam / N, 1 - 1e-300)) / eta
    coeff = (U.T @ r0) ** 2
    return np.exp(-np.outer(t, rates)) @ coeff / (2 * N)


def plateau(K, r0, *, N: int, null=None):
    """Stall level ``R^lin_∞ = |P_{ker K} r_0|² / 2N`` (MATH.md §6), and the unit null vector.

    With ``null`` (a predicted combination ``c``) the level is ``(cᵀ r_0)² / 2N`` with
    ``c/|c|``; otherwise the eigenvector of the smallest eigenvalue of ``K`` is used.

    Raises:
        ParameterError: ``null`` of the wrong length or zero.
    """
    r0 = np.asarray(r0, float).reshape(-1)
    if null is None:
        _, U = np.linalg.eigh(0.5 * (np.asarray(K) + np.asarray(K).T))
        c = U[:, 0]
    else:
        c = np.asarray(null, float).reshape(-1)
        if c.size != r0.size or not np.any(c):
            raise ParameterError(
                f"plateau: null = {tuple(np.asarray(null).tolist())}; allowed a nonzero vector of "
                f"length {r0.size} (one entry per output)."
            )
        c = c / np.linalg.norm(c)
    return float((c @ r0) ** 2 / (2 * N)), c


# ---------------------------------------------------------------- experiments
@experiment
def injective(p: InjectiveParams, *, key) -> Result:
    """One long run from a small initial loss on an injective data set, down to the float64
    floor: fitted rate against ``2λ_0/N`` (gradient-descent corrected), ``R`` against
    ``R_lin``, the PL ratio, ``λ_min(K(ν^t))``, the distance travelled."""
    mu, xi, W, theta0, targets = _task(p, key, p.eps)
    h = gradflow.train(
        theta0,
        mu,
        xi,
        targets,
        eta=p.eta,
        steps=p.steps,
        snapshot_every=_every(p.steps, p.snapshots, "injective"),
    )
    t, R, g2 = (np.asarray(v) for v in (h.t, h.R, h.g2))
    N, R0 = p.N, float(R[0])
    K0 = np.asarray(ntk.ntk_jacobian(theta0, mu, xi, W).K)
    lam = ntk.spectrum(K0)
    lam0 = float(lam[0])
    r0 = _residual(theta0, mu, xi, targets)
    R_lin = lazy_prediction(K0, r0, t, eta=p.eta, N=N)
    predicted = float(gd_rate(lam0, eta=p.eta, N=N))
    t_a = N * math.log(SECOND_MODE_SUPPRESSION) / (2 * (lam[1] - lam[0])) if lam.size > 1 else 0.0
    above = R > p.R_stop
    t_stop = float(t[above][-1])
    window = (t >= t_a) & above
    fitted = _fit_rate(t[window], R[window])
    lazy = t <= p.t_lazy
    lazy_dev = float(np.max(np.abs(R[lazy] / R_lin[lazy] - 1)))
    guaranteed = R0 * np.exp(-lam0 * t / N)
    later = above & (t > 0)  # equality at t = 0
    guarantee_ratio = float(np.max(R[later] / guaranteed[later]))
    with np.errstate(divide="ignore", invalid="ignore"):  # R = 0 past the float64 floor
        pl = g2 / (lam0 * R / N)
    pl_min = float(np.min(pl[above]))
    snaps = _unstack(h.snapshots)
    lam_t = np.array([ntk.spectrum(ntk.ntk_jacobian(th, mu, xi, W).K)[0] for th in snaps])
    D = _sync_distances(h.snapshots, theta0)
    path = float(np.sum(p.eta * np.sqrt(g2[:-1])))
    bound = math.sqrt(4 * N * R0 / lam0)
    decay = float(R[-1] / R0)
    checks = Checks(
        (
            Check.above("ntk_injective", lam0 / float(lam[-1]), INJECTIVE_RATIO),
            Check.within("rate", fitted, predicted, RATE_RTOL, relative=True),
            Check.below("lazy_fit", lazy_dev, LAZY_FIT_TOL, show_value=True),
            Check.below("guaranteed_rate", guarantee_ratio, 1.0, show_value=True, sig=3),
            Check.above("pl_along_run", pl_min, 1.0),
            Check.above("ntk_along_run", float(np.min(lam_t) / lam0), 0.5),
            _distance_check(float(D[-1]), path, bound),
            Check.below("floor_reached", decay, FLOOR_DECAY, show_value=True),
        )
    )
    values = {
        "lam": lam,
        "lam0": lam0,
        "rate_predicted": predicted,
        "rate_flow": 2 * lam0 / N,
        "rate_fitted": fitted,
        "t_a": t_a,
        "t_stop": t_stop,
        "R0": R0,
        "R_end": float(R[-1]),
        "lazy_dev": lazy_dev,
        "pl_min": pl_min,
        "lam_t": lam_t,
        "distance": float(D[-1]),
        "path": path,
        "distance_bound": bound,
        "guarantee_ratio": guarantee_ratio,
        "lip_hat": _lip_hat(lam_t, lam0, D),
    }
    data = {
        "t": t,
        "R": R,
        "R_lin": R_lin,
        "guaranteed": guaranteed,
        "pl": pl,
        "snapshot_t": np.asarray(h.snapshot_t),
        "lam_t": lam_t,
        "D": D,
        "fit_t": t[window],
        "fit_R": np.exp(_fit_line(t[window], R[window])),
    }
    return Result(values=values, data=data, check=checks)


@experiment
def stall(p: StallParams, *, key) -> Result:
    """Training on a family whose LSEs are dependent: the residual's component along the null
    combination ``c`` is frozen, so ``R`` stalls at ``(cᵀ r_0)² / 2N`` (``ε²/20`` for BB)."""
    fam = families.family(p.family, key=jax.random.fold_in(key, DATA))
    mu = families.stack(fam.laws)
    N, d = mu.B, mu.d
    xi, W = _query_readout(p, N, d, "stall")
    theta0 = tasks.silent_init(
        p.L, p.M, d, key=jax.random.fold_in(key, HEADS), sigma_A=p.sigma_A, sigma_V=p.sigma_V
    )
    targets = tasks.small_loss_targets(theta0, mu, xi, W, eps=p.eps, zeta=jnp.ones((N, 1)))
    h = gradflow.train(
        theta0,
        mu,
        xi,
        targets,
        eta=p.eta,
        steps=p.steps,
        snapshot_every=_every(p.steps, p.snapshots, "stall"),
    )
    t, R = np.asarray(h.t), np.asarray(h.R)
    K0 = np.asarray(ntk.ntk_jacobian(theta0, mu, xi, W).K)
    lam = ntk.spectrum(K0)
    r0 = _residual(theta0, mu, xi, targets)
    R_inf, c = plateau(K0, r0, N=N, null=fam.null)
    _, U = np.linalg.eigh(0.5 * (K0 + K0.T))
    R0 = float(R[0])
    t_p = N / (2 * lam[1]) * math.log(TRANSIENT_SUPPRESSION * (R0 - R_inf) / R_inf)
    on = t >= t_p
    plateau_dev = float(np.max(np.abs(R[on] / R_inf - 1)))
    snaps = _unstack(h.snapshots)
    r_t = np.stack([_residual(th, mu, xi, targets) for th in snaps])
    along = r_t @ c
    across = np.linalg.norm(r_t - along[:, None] * c[None], axis=1)
    cos_T = float(abs(along[-1]) / np.linalg.norm(r_t[-1]))
    lam_t = np.array([ntk.spectrum(ntk.ntk_jacobian(th, mu, xi, W).K)[0] for th in snaps])
    # the erosion (relative 1e-4 over the run) is fitted once the transient is far below it
    t_e = N / (2 * lam[1]) * math.log(EROSION_SUPPRESSION * (R0 - R_inf) / R_inf)
    erosion = _fit_rate(t[t >= t_e], R[t >= t_e])
    erosion_predicted = 2 * float(lam_t[-1]) / N
    checks = Checks(
        (
            Check.below("ntk_singular", float(lam[0] / lam[-1]), SINGULAR_RATIO),
            Check.below("stall_plateau", plateau_dev, STALL_RTOL, show_value=True),
            Check.below("stall_direction", 1 - cos_T, STALL_ANGLE, show_value=True),
            Check.within("stall_erosion", erosion / erosion_predicted, 1.0, EROSION_RTOL),
        )
    )
    values = {
        "lam": lam,
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
        "lam_T": float(lam_t[-1]),
        "N": N,
        "eps": p.eps,
    }
    data = {
        "t": t,
        "R": R,
        "R_lin": lazy_prediction(K0, r0, t, eta=p.eta, N=N),
        "snapshot_t": np.asarray(h.snapshot_t),
        "along": along,
        "across": across,
        "lam_t": lam_t,
    }
    return Result(values=values, data=data, check=checks)


@experiment
def sweep(p: SweepParams, *, key) -> Result:
    """One data set and one initialisation; labels ``Y(ν_0) + ε ζ`` with the same ``ζ`` and
    growing ``ε`` (so ``R_0 ∝ ε²`` and ``R_lin/R_0`` is the same curve). Records, per ``ε``, the
    deviation from ``R_lin``, whether the guaranteed decay ``R_0 e^{−λ_0 t/N}`` held, the kernel
    along the run, and an *indicative* threshold ``λ_0³/(16 N Lip_K²)`` with ``Lip_K`` estimated
    from below (so the threshold from above)."""
    eps = np.array(p.eps, float)
    if eps.size < 2 or np.any(np.diff(eps) <= 0):
        raise ParameterError(f"sweep: eps = {list(p.eps)}; allowed at least two increasing values.")
    mu, xi, W, theta0, _ = _task(p, key, 1.0)
    zeta = jax.random.normal(jax.random.fold_in(key, NOISE), (p.N, 1))
    K0 = np.asarray(ntk.ntk_jacobian(theta0, mu, xi, W).K)
    lam = ntk.spectrum(K0)
    lam0, N = float(lam[0]), p.N
    every = _every(p.steps, p.snapshots, "sweep")
    curves, dev, held, lam_min, lam_max, D_T, bad = [], [], [], [], [], [], []
    lips = []
    for e in eps:
        targets = tasks.small_loss_targets(theta0, mu, xi, W, eps=float(e), zeta=zeta)
        h = gradflow.train(
            theta0, mu, xi, targets, eta=p.eta, steps=p.steps, snapshot_every=every, throw=False
        )
        t, R = np.asarray(h.t), np.asarray(h.R)
        r0 = _residual(theta0, mu, xi, targets)
        R_lin = lazy_prediction(K0, r0, t, eta=p.eta, N=N)
        curves.append(R / R[0])
        dev.append(float(np.max(np.abs(R / R_lin - 1))))
        held.append(bool(np.all(R <= R[0] * np.exp(-lam0 * t / N))))
        snaps = _unstack(h.snapshots)
        spectra = [ntk.spectrum(ntk.ntk_jacobian(th, mu, xi, W).K) for th in snaps]
        lam_t = np.array([s[0] for s in spectra])
        D = _sync_distances(h.snapshots, theta0)
        lam_min.append(float(np.min(lam_t)))
        lam_max.append(float(np.max([s[-1] for s in spectra])))
        D_T.append(float(D[-1]))
        lips.append(_lip_hat(lam_t, lam0, D))
        bad.append(int(h.first_bad_step))
    R0 = eps**2 * float(np.sum(np.asarray(zeta) ** 2)) / (2 * N)
    lip = float(np.max(lips))
    threshold = lam0**3 / (16 * N * lip**2)
    inside = R0 <= threshold
    scaling = math.log(dev[1] / dev[0]) / math.log(eps[1] / eps[0])
    checks = Checks(
        (
            Check.between("lazy_scaling", scaling, *LAZY_SCALING),
            _regime_check(np.array(held)[inside]),
        )
    )
    t = np.asarray(h.t)
    values = {
        "eps": eps,
        "R0": R0,
        "lazy_dev": np.array(dev),
        "guarantee_held": np.array(held),
        "lam0": lam0,
        "lam_min": np.array(lam_min),
        "lam_max": np.array(lam_max),
        "distance": np.array(D_T),
        "lip_hat": lip,
        "threshold": threshold,
        "inside": inside,
        "first_bad_step": np.array(bad),
        "scaling": scaling,
        "eta_limit": 2 * N / np.array(lam_max),
    }
    data = {
        "t": t,
        "R_over_R0": np.stack(curves),
        "R_lin_over_R0": R_lin / R_lin[0],
        "guaranteed": np.exp(-lam0 * t / N),
        "eps": eps,
        "R0": R0,
        "lazy_dev": np.array(dev),
        "threshold": np.array(threshold),
    }
    return Result(values=values, data=data, check=checks)


@experiment
def width_depth(p: WidthDepthParams, *, key) -> Result:
    """The fitted rate of ``log R`` as the width ``M`` (at depth ``L_width``) and the depth ``L``
    (at width ``M_depth``) grow, ``seeds`` head draws each, against (i) each network's own
    ``2λ_0/N`` and (ii) the mean-field rate ``2λ_min(K^∞)/N`` (Gauss–Hermite, MATH.md §5.2).
    At the silent point the heads of all layers are i.i.d., so the deviation from the mean field
    is a Monte Carlo error over ``LM/2`` pairs: ``∝ (LM)^{-1/2}`` through width or depth."""
    mu, xi, W = _data(p, key)
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
        keys = jax.random.split(jax.random.fold_in(jax.random.fold_in(key, HEADS), i), p.seeds)
        thetas = jax.vmap(
            lambda k, L=L, M=M: tasks.silent_init(
                L, M, p.d, key=k, sigma_A=p.sigma_A, sigma_V=p.sigma_V
            )
        )(keys)
        targets = tasks.small_loss_targets(_index(thetas, 0), mu, xi, W, eps=p.eps, zeta=zeta)
        # silent heads all give Y(ν_0) = W ξ_0, hence the same labels for every seed
        R = np.asarray(
            jax.vmap(
                lambda th, tg=targets: (
                    gradflow.train(th, mu, xi, tg, eta=p.eta, steps=p.steps, throw=False).R
                )
            )(thetas)
        )
        t = p.eta * np.arange(p.steps + 1)
        for s in range(p.seeds):
            lam = ntk.spectrum(ntk.ntk_silent(_index(thetas, s), mu, xi, W).K)
            predicted[i, s] = gd_rate(lam[0], eta=p.eta, N=N)
            t_a = N * math.log(SECOND_MODE_SUPPRESSION) / (2 * (lam[1] - lam[0]))
            window = t >= t_a
            fitted[i, s] = _fit_rate(t[window], R[s, window]) if window.sum() >= 10 else np.nan
    LM = np.array([L * M for L, M in configs], float)
    rms = np.sqrt(np.mean((fitted / rate_inf - 1) ** 2, axis=1))
    fit = fit_loglog(LM, rms)
    pooled = {x: float(np.sqrt(np.mean((fitted[LM == x] / rate_inf - 1) ** 2))) for x in set(LM)}
    small, large = pooled[LM.min()], pooled[LM.max()]
    track = float(np.max(np.abs(fitted / predicted - 1)))
    checks = Checks(
        (
            Check.below(
                "rate_tracks_ntk",
                track if np.isfinite(track) else np.inf,
                RATE_RTOL,
                show_value=True,
            ),
            Check.below("rate_meanfield", large, MEANFIELD_RTOL, show_value=True),
            Check.below("rate_meanfield_decrease", large / small, 1.0, show_value=True),
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
    return Result(values=values, data=data, check=checks)


# ---------------------------------------------------------------- figures
def plot_injective(result: Result):
    """Left: ``R(t)`` (log scale) with ``R_lin``, the fitted line, the guaranteed decay and the
    fit window. Right: the PL ratio ``‖g‖²/(λ_0 R/N)`` and ``λ_min(K(ν^t))/λ_0``."""
    from ..companion.figures import new_figure

    d, v = result.data, result.values
    fig, (ax, ax_r) = new_figure(2, width="page", height=2.8)
    ax.semilogy(d["t"], d["R"], color="C0", label="$R(t)$, gradient descent")
    ax.semilogy(d["t"], d["R_lin"], "--", color="C1", label="$R_{\\rm lin}$ (NTK at $\\nu_0$)")
    ax.semilogy(
        d["fit_t"],
        d["fit_R"],
        ":",
        color="k",
        lw=1.0,
        label=f"fit: rate {v['rate_fitted']:.4f} (pred. {v['rate_predicted']:.4f})",
    )
    ax.semilogy(
        d["t"],
        d["guaranteed"],
        "-.",
        color="C2",
        lw=0.9,
        label="$R_0 e^{-\\lambda_0 t/N}$ (guaranteed)",
    )
    ax.axvline(v["t_a"], color="0.6", lw=0.7)
    ax.set(
        xlabel="training time $t$",
        ylabel="risk $R$",
        title="injective data: loss",
        ylim=(max(float(np.min(d["R"])) / 10, 1e-40), float(d["R"][0]) * 10),
    )
    ax.legend(fontsize=6)
    above = d["R"] > 0
    ax_r.plot(d["t"][above], d["pl"][above], color="C0", label="$\\|g\\|^2/(\\lambda_0 R/N)$")
    ax_r.plot(
        d["snapshot_t"],
        d["lam_t"] / v["lam0"],
        "o",
        color="C3",
        label="$\\lambda_{\\min}(K(\\nu^t))/\\lambda_0$",
    )
    ax_r.axhline(1.0, color="0.5", lw=0.7)
    ax_r.axhline(0.5, color="0.5", lw=0.7, ls=":")
    ax_r.set(
        xlabel="training time $t$",
        title="PL ratio and kernel along the run",
        xlim=(0, v["t_stop"]),
        ylim=(0, max(3.0, 1.05 * float(np.nanmax(d["pl"][d["t"] <= v["t_stop"]])))),
    )
    ax_r.legend(fontsize=6)
    return fig


def plot_stall(result: Result):
    """Left: ``R(t)`` with the predicted plateau ``(cᵀr_0)²/2N``. Right: the residual's
    component along the null combination ``c`` and its norm across it."""
    from ..companion.figures import new_figure

    d, v = result.data, result.values
    fig, (ax, ax_r) = new_figure(2, width="page", height=2.8)
    ax.semilogy(d["t"], d["R"], color="C0", label="$R(t)$")
    ax.semilogy(d["t"], d["R_lin"], "--", color="C1", label="$R_{\\rm lin}$")
    ax.axhline(v["R_inf"], color="k", ls=":", lw=1.0, label="plateau $(c^\\top r_0)^2/2N$")
    ax.axvline(v["t_p"], color="0.6", lw=0.7)
    ax.set(xlabel="training time $t$", ylabel="risk $R$", title="dependent LSEs: the loss stalls")
    ax.legend(fontsize=6)
    ax_r.semilogy(
        d["snapshot_t"],
        np.abs(d["along"]),
        "o-",
        color="C3",
        label="$|c^\\top r(t)|$ (null direction)",
    )
    ax_r.semilogy(
        d["snapshot_t"],
        np.maximum(d["across"], 1e-300),
        "s-",
        color="C0",
        label="$|r(t) - (c^\\top r)\\,c|$",
    )
    ax_r.set(xlabel="training time $t$", title="where the residual lives")
    ax_r.legend(fontsize=6)
    return fig


def plot_sweep(result: Result):
    """Left: ``R(t)/R_0`` for each ``ε`` with ``R_lin/R_0`` and the guaranteed decay. Right: the
    deviation from ``R_lin`` against ``R_0``, with the indicative threshold."""
    from ..companion.figures import new_figure

    d, v = result.data, result.values
    fig, (ax, ax_r) = new_figure(2, width="page", height=2.8)
    for i, e in enumerate(d["eps"]):
        ax.semilogy(d["t"], d["R_over_R0"][i], color=f"C{i % 8}", label=f"$\\varepsilon$ = {e:g}")
    ax.semilogy(d["t"], d["R_lin_over_R0"], "k--", lw=1.0, label="$R_{\\rm lin}/R_0$")
    ax.semilogy(d["t"], d["guaranteed"], "-.", color="0.4", lw=0.9, label="$e^{-\\lambda_0 t/N}$")
    ax.set(
        xlabel="training time $t$",
        ylabel="$R(t)/R_0$",
        title="growing initial loss",
        ylim=(max(float(np.nanmin(d["R_over_R0"])) / 10, 1e-35), 3.0),
    )
    ax.legend(fontsize=6)
    ax_r.loglog(d["R0"], d["lazy_dev"], "o-", color="C0", label="$\\max_t |R/R_{\\rm lin} - 1|$")
    ax_r.loglog(
        d["R0"],
        d["lazy_dev"][0] * np.sqrt(d["R0"] / d["R0"][0]),
        ":",
        color="0.4",
        label="$\\propto \\varepsilon = \\sqrt{R_0}$ (reference)",
    )
    ax_r.axvline(
        v["threshold"], color="C1", ls="--", lw=1.0, label="indicative threshold (not verified)"
    )
    ax_r.set(xlabel="initial loss $R_0$", title="departure from the lazy prediction")
    ax_r.legend(fontsize=6)
    return fig


def plot_width_depth(result: Result):
    """Left: fitted rates against ``L·M`` (width line, depth line) with the mean-field rate.
    Right: their RMS relative deviation from it (log-log) with the fit and slope −1/2."""
    from ..companion.figures import new_figure

    d, v = result.data, result.values
    fig, (ax, ax_r) = new_figure(2, width="page", height=2.8)
    labels = ("width line (M grows)", "depth line (L grows)")
    for line, (marker, shift) in enumerate((("o", 0.97), ("s", 1.03))):
        sel = d["line"] == line
        x = np.repeat(d["LM"][sel] * shift, d["fitted"].shape[1])
        ax.semilogx(
            x,
            d["fitted"][sel].reshape(-1),
            marker,
            color=f"C{line}",
            ms=3,
            alpha=0.7,
            label=labels[line],
        )
        ax_r.loglog(d["LM"][sel], d["rms"][sel], marker, color=f"C{line}", label=labels[line])
    ax.axhline(float(d["rate_inf"]), color="k", ls="--", lw=1.0, label="mean-field rate")
    ax.set(xlabel="$L\\cdot M$", ylabel="fitted rate of $\\log R$", title="rate vs width and depth")
    ax.legend(fontsize=6)
    order = np.argsort(d["LM"])
    ax_r.loglog(
        d["LM"][order],
        d["rms_fit"][order],
        "k-",
        lw=0.9,
        label=f"fit: slope {v['slope']:.2f} (Monte Carlo law: −0.5)",
    )
    ax_r.set(
        xlabel="$L\\cdot M$", ylabel="RMS relative deviation", title="approach to the mean field"
    )
    from matplotlib.ticker import NullFormatter

    for a in (ax, ax_r):
        a.xaxis.set_minor_formatter(NullFormatter())
    ax_r.legend(fontsize=6)
    return fig


# ---------------------------------------------------------------- private
def _query_readout(p, N, d, where):
    if len(p.xi0) != d or len(p.W) != d:
        raise ParameterError(
            f"{where}: xi0 has {len(p.xi0)} and W has {len(p.W)} entries; allowed d = {d} each."
        )
    xi = jnp.tile(jnp.asarray(p.xi0, float), (N, 1))
    return xi, jnp.asarray(p.W, float)[None, :]


def _data(p, key):
    """Contexts, queries and readout from the experiment key."""
    mu = sample_cloud(jax.random.fold_in(key, DATA), p.N, p.n, p.d, p.scale)
    xi, W = _query_readout(p, p.N, p.d, type(p).__name__)
    return mu, xi, W


def _task(p, key, eps):
    """Data, silent heads and small-loss labels ``Y(ν_0) + ε ζ`` from the experiment key."""
    mu, xi, W = _data(p, key)
    theta0 = tasks.silent_init(
        p.L, p.M, p.d, key=jax.random.fold_in(key, HEADS), sigma_A=p.sigma_A, sigma_V=p.sigma_V
    )
    targets = tasks.small_loss_targets(
        theta0, mu, xi, W, eps=float(eps), key=jax.random.fold_in(key, NOISE)
    )
    return mu, xi, W, theta0, targets


def _every(steps, snapshots, where):
    if steps % snapshots:
        raise ParameterError(
            f"{where}: snapshots = {snapshots}; allowed a divisor of steps = {steps}."
        )
    return steps // snapshots


def _residual(theta, mu, xi, targets):
    return np.asarray(tasks.readout(theta, mu, xi, targets.W) - targets.y).reshape(-1)


def _index(tree, i):
    return jax.tree_util.tree_map(lambda a: a[i], tree)


def _unstack(snapshots: Heads):
    return [_index(snapshots, i) for i in range(snapshots.A.shape[0])]


def _fit_line(t, R):
    slope, intercept = np.polyfit(t, np.log(R), 1)
    return slope * t + intercept


def _fit_rate(t, R) -> float:
    """Least-squares rate ``−d log R / dt`` (NaN with fewer than two points)."""
    if t.size < 2:
        return float("nan")
    return float(-np.polyfit(t, np.log(R), 1)[0])


def _sync_distances(snapshots: Heads, theta0: Heads):
    """``D_sync(θ^t, θ^0)`` at every snapshot (:func:`~mftransformer.solver.gradflow.sync_distance`)."""
    return np.array([float(gradflow.sync_distance(th, theta0)) for th in _unstack(snapshots)])


def _lip_hat(lam_t, lam0, D) -> float:
    """``max_t |λ_min(K(ν^t)) − λ_0| / D_sync(t)``: a lower estimate of ``Lip_K``."""
    moved = D > 0
    return float(np.max(np.abs(lam_t[moved] - lam0) / D[moved])) if moved.any() else 0.0


def _regime_check(held) -> Check:
    """Every run below the indicative threshold kept ``R ≤ R_0 e^{−λ_0 t/N}`` (none: FAIL)."""
    passed = bool(held.size and held.all())
    return Check(
        "small_loss_regime",
        float(held.mean()) if held.size else 0.0,
        "all runs with R0 below the indicative threshold",
        passed,
        f"{int(held.sum())}/{held.size} runs",
    )


def _distance_check(distance, path, bound) -> Check:
    """``D_sync(T) ≤ Σ η‖g_k‖ ≤ √(4 N R_0 / λ_0)``; prints the outer ratio."""
    passed = distance <= path * (1 + 1e-12) and path <= bound
    return Check(
        "distance_bound",
        path / bound,
        "D <= path <= bound, path/bound < 1",
        passed,
        f"{path / bound:.3f} (D/path = {distance / path:.3f})",
    )

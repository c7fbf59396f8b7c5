r"""Chapter 4, NTK injectivity and LSE independence: the experiments (Model: NTK).

Each experiment is ``fn(p, *, key) -> <What>Result`` with ``p`` its section of the parameter set;
its checks are built from the rows of :data:`.claims.CLAIMS`. Figures are in :mod:`.plots`.
Contexts are centred (centring on) unless stated.

- :func:`closed_form`: the silent-point closed form against :math:`L M\, J J^\top` from JAX;
  ``ntk_closed_form``.
- :func:`lse_families`: the LSE test on the families of ``lse_verdicts``,
  ``null_vectors``.
- :func:`model_families`: the NTK on the same families; ``ntk_singular``, ``translates_uncentred``,
  ``lse_ntk_agree``.
- :func:`scan`: a translate deformed continuously into a generic cloud; ``scan_together``.
- :func:`empirical_gauss`: sampled Gaussians are only nearly dependent; ``empirical_gauss``.
- :func:`mean_field`: the NTK of :math:`P` head pairs against its mean-field limit;
  ``ntk_mc_rate``.
- :func:`rank`: too few heads make the kernel singular by rank; ``rank_bound``.
"""

import jax
import jax.numpy as jnp
import numpy as np

from ...solver import families as fam
from ...solver import ntk, tasks
from ..checks import Checks, Result, experiment, fit_loglog, result_type
from . import once
from .claims import CLAIMS
from .params import (
    ClosedFormParams,
    EmpiricalGaussParams,
    LSEFamiliesParams,
    MeanFieldParams,
    ModelFamiliesParams,
    RankParams,
    ScanParams,
)
from .setting import DATA, HEADS, QUERIES, VERDICT_CODE, cosine, query, readout

__all__ = [
    "RANK_RTOL",
    "closed_form",
    "ClosedFormResult",
    "lse_families",
    "LSEFamiliesResult",
    "model_families",
    "ModelFamiliesResult",
    "scan",
    "ScanResult",
    "empirical_gauss",
    "EmpiricalGaussResult",
    "mean_field",
    "MeanFieldResult",
    "rank",
    "RankResult",
]

#: the numerical rank of :math:`\mathbf K` counts eigenvalues above this fraction of
#: :math:`\lambda_{\max}` (not a band: the count is compared with the bound exactly).
RANK_RTOL = 1e-10


@result_type
class ClosedFormResult(Result):
    errors: dict  # block -> max |closed form − L M J Jᵀ| / max |closed form|
    error: float  # the worst block
    eigenvalues: np.ndarray


@result_type
class LSEFamiliesResult(Result):
    names: list
    verdicts: dict  # family -> (modulo affine, modulo constants)
    reasons: dict
    cosines: dict  # family -> |cos(c, c_pred)|
    min_holding: float
    max_failing: float
    ill_conditioned: dict  # family predicted ill-conditioned -> its ρ (modulo affine)
    sigma_min_affine: dict


@result_type
class ModelFamiliesResult(Result):
    names: list
    rows: dict  # family -> LSE and kernel ratios, both verdicts (first key)
    uncentred: dict
    singular: float  # over every key
    agree: int  # (family, key) pairs whose two verdicts agree
    total: int  # (family, key) pairs
    relation: list  # per key: worst |log10(feature ratio / LSE ratio at the heads' queries)|
    min_holding: float  # smallest feature ratio of a holding family (first key)
    min_holding_lambda: float  # smallest λ_min/λ_max of a holding family (first key)
    max_failing: float  # largest feature ratio of a failing family (first key)
    sampled_g1: dict


@result_type
class ScanResult(Result):
    slope: float  # median over keys: λ_min/λ_max against the LSE ρ
    slope_features: float  # median over keys: feature ratio against the LSE ρ
    at_zero: float


@result_type
class EmpiricalGaussResult(Result):
    slope: float  # median over keys
    slopes: list
    gmean: np.ndarray  # first key
    exact: float


@result_type
class MeanFieldResult(Result):
    slope: float  # median over keys
    slopes: list
    rms: np.ndarray  # first key


@result_type
class RankResult(Result):
    ranks: list
    bounds: list


# ---------------------------------------------------------------- experiments
@experiment
def closed_form(p: ClosedFormParams, *, key) -> ClosedFormResult:
    r""":math:`\mathbf K^V`, :math:`\mathbf K^{QK}` at the silent point from the closed form (Model:
    NTK) against :math:`L M\, J J^\top` from ``jax.vjp``/``jax.jvp``; the largest relative error
    of the three blocks."""
    theta = tasks.silent_init(
        p.L, p.M, p.d, key=jax.random.fold_in(key, HEADS), sigma_A=p.sigma_A, sigma_V=p.sigma_V
    )
    laws = fam.clouds(p.N, p.n, p.d, key=jax.random.fold_in(key, DATA))
    mu = fam.stack([fam.Discrete(p.scale * law.x, law.a).centred() for law in laws])
    xi, W = query(p.N, p.d), readout(p.d)
    exact, jac = ntk.ntk_silent(theta, mu, xi, W), ntk.ntk_jacobian(theta, mu, xi, W)
    errors = {
        f: float(
            jnp.max(jnp.abs(getattr(exact, f) - getattr(jac, f)))
            / jnp.max(jnp.abs(getattr(exact, f)))
        )
        for f in ("K", "K_V", "K_QK")
    }
    worst = max(errors.values())
    check = CLAIMS["ntk_closed_form"].check(worst)
    data = {
        "K_V": np.asarray(exact.K_V),
        "K_QK": np.asarray(exact.K_QK),
        "K": np.asarray(exact.K),
        "difference": np.asarray(jnp.abs(exact.K - jac.K)),
    }
    return ClosedFormResult(
        errors=errors, error=worst, eigenvalues=ntk.spectrum(exact.K), data=data, check=check
    )


@experiment
def lse_families(p: LSEFamiliesParams, *, key) -> LSEFamiliesResult:
    """The LSE test, modulo affine functions and modulo constants, on every family of chapter
    4; the null combination found against the predicted one."""
    rows = []
    for name in fam.FAMILIES:
        family = fam.family(name, key=jax.random.fold_in(key, DATA))
        k_q = jax.random.fold_in(key, QUERIES)
        aff = ntk.lse_independence(family.laws, K=p.K, key=k_q, modulo="affine")
        const = ntk.lse_independence(family.laws, K=p.K, key=k_q, modulo="constant")
        rows.append((family, aff, const))
    ratio_aff = np.array([a.ratio for _, a, _ in rows])
    ratio_const = np.array([c.ratio for _, _, c in rows])
    ok_aff = [a.verdict == f.affine for f, a, _ in rows]
    ok_const = [c.verdict == f.constant for f, _, c in rows]
    cosines = {f.name: cosine(a.null, f.null) for f, a, _ in rows if f.null is not None}
    checks = Checks(
        (
            CLAIMS["lse_verdicts"].check(sum(ok_aff) + sum(ok_const), target=2 * len(rows)),
            CLAIMS["null_vectors"].check(1 - min(cosines.values())),
        )
    )
    names = list(fam.FAMILIES)
    data = {
        "index": np.arange(len(names)),
        "ratio_affine": ratio_aff,
        "ratio_constant": ratio_const,
        "sigma_min_affine": np.array([a.sigma[-1] for _, a, _ in rows]),
        "sigma_min_constant": np.array([c.sigma[-1] for _, _, c in rows]),
        "holds": np.array([f.affine == "independent" for f, _, _ in rows]),
        "fails": np.array([f.affine == "dependent" for f, _, _ in rows]),
    }
    values = {
        "names": names,
        "verdicts": {f.name: (a.verdict, c.verdict) for f, a, c in rows},
        "reasons": {f.name: f.reason for f, _, _ in rows},
        "cosines": cosines,
        "min_holding": float(ratio_aff[data["holds"]].min()),
        "max_failing": float(ratio_aff[data["fails"]].max()),
        "ill_conditioned": {f.name: a.ratio for f, a, _ in rows if f.affine == "ill-conditioned"},
        "sigma_min_affine": dict(zip(names, data["sigma_min_affine"], strict=True)),
    }
    return LSEFamiliesResult(**values, data=data, check=checks)


@experiment
def model_families(p: ModelFamiliesParams, *, key) -> ModelFamiliesResult:
    r"""The NTK (centred contexts; infinite tokens for continuous laws) on every family, next to the
    LSE test, each with its three-valued verdict; the uncentred translates; G1 from samples
    (small, not zero). Repeated on ``p.keys`` independent keys (laws, heads, queries); the rows
    shown are the first key's.

    The kernel's verdict is read on :math:`\sigma_{\min}/\sigma_{\max}` of its feature matrix
    (:func:`~mftransformer.solver.ntk.feature_ratio`, :math:`= \sqrt{\lambda_{\min}/\lambda_{\max}}`
    without squaring), with the LSE test's thresholds."""
    runs = [once.families_once(p, k) for k in jax.random.split(key, p.keys)]
    shown = runs[0]
    rows, names = shown["rows"], list(shown["rows"])
    agree = sum(r["agree"] for r in runs)
    total = sum(len(r["rows"]) for r in runs)
    checks = Checks(
        (
            CLAIMS["ntk_singular"].check(max(r["singular"] for r in runs)),
            CLAIMS["translates_uncentred_qk"].check(max(r["uncentred"]["K_QK"] for r in runs)),
            CLAIMS["translates_uncentred_v"].check_keys(
                [min(r["uncentred"]["K"], r["uncentred"]["K_V"]) for r in runs]
            ),
            CLAIMS["lse_ntk_agree"].check(agree, target=total),
            CLAIMS["lse_ntk_relation"].check_keys([r["relation"] for r in runs]),
        )
    )
    predicted = [once.predicted(n) for n in names]
    column = {k: np.array([rows[n][k] for n in names]) for k in ("lse", "lse_heads", "features")}
    holds = np.array([v == "independent" for v in predicted])
    fails = np.array([v == "dependent" for v in predicted])
    data = {
        "index": np.arange(len(names)),
        "lse_ratio": column["lse"],
        "lse_heads_ratio": column["lse_heads"],
        "feature_ratio": column["features"],
        "ntk_ratio": np.array([rows[n]["K"] for n in names]),
        "lse_verdict": np.array([VERDICT_CODE[rows[n]["lse_verdict"]] for n in names]),
        "ntk_verdict": np.array([VERDICT_CODE[rows[n]["ntk_verdict"]] for n in names]),
        "holds": holds,
        "fails": fails,
        "sampled": np.array([v is None for v in predicted]),
        **_spectra(rows, shown["T_uncentred"]),
    }
    values = {
        "names": names,
        "rows": {n: {k: v for k, v in r.items() if k != "ntk"} for n, r in rows.items()},
        "uncentred": shown["uncentred"],
        "singular": max(r["singular"] for r in runs),
        "agree": agree,
        "total": total,
        "relation": [r["relation"] for r in runs],
        "min_holding": float(column["features"][holds].min()),
        "min_holding_lambda": float(data["ntk_ratio"][holds].min()),
        "max_failing": float(column["features"][fails].max()),
        "sampled_g1": rows["G1 sampled"],
    }
    return ModelFamiliesResult(**values, data=data, check=checks)


@experiment
def scan(p: ScanParams, *, key) -> ScanResult:
    r"""T deformed: the second cloud is the first translated, its heaviest atom moved by ``t``. At
    ``t = 0`` every ratio sits at the floor; for ``t > 0`` the LSE :math:`\rho \propto t`, the
    kernel's feature ratio :math:`\propto t` and :math:`\lambda_{\min}/\lambda_{\max} \propto t^2`
    (down to its floor near :math:`10^{-16}`). Repeated on ``p.keys`` keys; the curves shown are
    the first key's."""
    runs = [once.scan_once(p, k) for k in jax.random.split(key, p.keys)]
    shown = runs[0]
    checks = Checks(
        (
            CLAIMS["scan_zero"].check(max(r["at_zero"] for r in runs)),
            CLAIMS["scan_together"].check_keys([r["fit"].slope for r in runs]),
            CLAIMS["scan_features"].check_keys([r["fit_features"].slope for r in runs]),
            CLAIMS["scan_agree"].check(
                sum(r["agree"] for r in runs), target=sum(r["t"].size for r in runs)
            ),
        )
    )
    fitted = shown["fit_mask"]
    data = {
        "t": shown["t"],
        "lse_ratio": shown["lse"],
        "feature_ratio": shown["features"],
        "ntk_ratio": shown["ntk"],
        "fit_mask": fitted,
        "fit": np.where(fitted, shown["fit"](np.where(fitted, shown["lse"], 1.0)), np.nan),
    }
    return ScanResult(
        slope=float(np.median([r["fit"].slope for r in runs])),
        slope_features=float(np.median([r["fit_features"].slope for r in runs])),
        at_zero=max(r["at_zero"] for r in runs),
        data=data,
        check=checks,
    )


@experiment
def empirical_gauss(p: EmpiricalGaussParams, *, key) -> EmpiricalGaussResult:
    r"""Two 1D Gaussians (dependent modulo affine) replaced by ``n`` samples each: :math:`\rho` is
    small, not zero, and falls like :math:`n^{-1/2}`; geometric mean over ``p.seeds`` samples, on
    each of ``p.keys`` keys (queries and samples), every (key, seed) in one batch per ``n``."""
    keys = jax.random.split(key, p.keys)
    ns = np.array(p.ns)
    ratios = np.zeros((len(ns), p.keys, p.seeds))  # size, key, seed
    for i, n in enumerate(ns):
        draws = [once.gauss_draws(k, p.sigmas, int(n), p.seeds, p.K) for k in keys]
        q = np.concatenate([np.broadcast_to(q, (p.seeds, p.K)) for q, _ in draws])
        x = np.concatenate([x for _, x in draws])
        q, x = jnp.asarray(q), jnp.asarray(x)
        ratios[i] = np.asarray(once.gauss_ratio(q, once.gauss_lse(q, x))).reshape(p.keys, p.seeds)
    gmean = np.exp(np.mean(np.log(ratios), axis=2))  # (n, key)
    fit_mask = ns >= p.fit_from
    fits = [fit_loglog(ns[fit_mask], gmean[fit_mask, k]) for k in range(p.keys)]
    # below fit_from a few samples are far from Gaussian and the mean need not decrease
    steps = (gmean[fit_mask][1:] / gmean[fit_mask][:-1]).max(axis=0)
    checks = Checks(
        (
            CLAIMS["empirical_gauss_decreasing"].check_keys(steps),
            CLAIMS["empirical_gauss"].check_keys([f.slope for f in fits]),
        )
    )
    queries = once.gauss_draws(keys[0], p.sigmas, 2, 2, p.K)[0][:, None]  # the first key's
    laws = [fam.Gaussian(np.zeros(1), np.array([[s**2]])) for s in p.sigmas]
    data = {
        "n": ns,
        "ratio": ratios[:, 0],
        "geometric_mean": gmean[:, 0],
        "geometric_mean_keys": gmean,
        "fit": fits[0](ns),
        "fit_mask": fit_mask,
    }
    return EmpiricalGaussResult(
        slope=float(np.median([f.slope for f in fits])),
        slopes=[f.slope for f in fits],
        gmean=gmean[:, 0],
        exact=ntk.lse_independence(laws, queries=queries).ratio,
        data=data,
        check=checks,
    )


@experiment
def mean_field(p: MeanFieldParams, *, key) -> MeanFieldResult:
    r"""The NTK of ``P`` mirrored head pairs (``L = 1``, ``M = 2P``) against the mean-field kernel
    :math:`\mathbf K^\infty` (Gauss–Hermite): relative Frobenius error, RMS over ``p.seeds``
    draws, :math:`\propto P^{-1/2}`; the slope on each of ``p.keys`` keys (contexts and heads).

    Each draw holds ``max(Ps)`` pairs and smaller ``P`` use a prefix: the kernels of every prefix
    come from one evaluation of the per-head features
    (:func:`~mftransformer.solver.ntk.silent_features`), summed segment by segment."""
    runs = [once.mean_field_once(p, k) for k in jax.random.split(key, p.keys)]
    shown = runs[0]
    Ps = np.array(p.Ps)
    slopes = [fit_loglog(Ps, r["rms"]).slope for r in runs]
    check = CLAIMS["ntk_mc_rate"].check_keys(slopes)
    fit = fit_loglog(Ps, shown["rms"])
    data = {
        "P": Ps,
        "error": shown["errors"],
        "rms": shown["rms"],
        "rms_keys": np.stack([r["rms"] for r in runs], axis=1),
        "fit": fit(Ps),
        "eigenvalues": shown["eigenvalues"],
        "eigenvalues_infinite": shown["eigenvalues_infinite"],
    }
    return MeanFieldResult(
        slope=float(np.median(slopes)), slopes=slopes, rms=shown["rms"], data=data, check=check
    )


@experiment
def rank(p: RankParams, *, key) -> RankResult:
    r"""With :math:`P` head pairs,
    :math:`\mathrm{rank}\,\mathbf K = \min(N d_{\rm out}, P d (d_{\rm out} + 1))` (Model: NTK):
    generic clouds, ``d = 2``, ``d_out = 1``; numerical rank above
    :math:`10^{-10} \lambda_{\max}`."""
    d = 2
    mu = fam.stack(
        [law.centred() for law in fam.clouds(p.N, p.n, d, key=jax.random.fold_in(key, DATA))]
    )
    xi, W = query(p.N, d), readout(d)
    theta = tasks.silent_init(1, 2 * max(p.Ps), d, key=jax.random.fold_in(key, HEADS))
    kernels = ntk.ntk_silent_prefixes(theta, mu, xi, W, p.Ps)[:, 0]  # the first P pairs
    ranks, bounds = [], []
    for P, K in zip(p.Ps, kernels, strict=True):
        lam = ntk.spectrum(K)
        ranks.append(int(np.sum(lam > RANK_RTOL * lam[-1])))
        bounds.append(ntk.rank_bound(p.N, 1, P, d))
    matches = sum(r == b for r, b in zip(ranks, bounds, strict=True))
    check = CLAIMS["rank_bound"].check(matches, target=len(ranks))
    data = {"P": np.array(p.Ps), "rank": np.array(ranks), "bound": np.array(bounds)}
    return RankResult(ranks=ranks, bounds=bounds, data=data, check=check)


# ---------------------------------------------------------------- private
def _spectra(rows, uncentred):
    r"""Eigenvalues of :math:`\mathbf K`, :math:`\mathbf K^V`, :math:`\mathbf K^{QK}` for BB, CV
    and the uncentred translates."""
    spectra = {
        f"{n}_{b}": ntk.spectrum(getattr(rows[n]["ntk"], b))
        for n in ("BB", "CV")
        for b in ("K", "K_V", "K_QK")
    }
    spectra.update(
        {f"T uncentred_{b}": ntk.spectrum(getattr(uncentred, b)) for b in ("K", "K_V", "K_QK")}
    )
    return {f"spectrum_{k.replace(' ', '_')}": v for k, v in spectra.items()}

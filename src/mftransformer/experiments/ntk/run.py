"""Chapter 4, NTK injectivity and LSE independence: the experiments (Model: NTK).

Each experiment is ``fn(p, *, key) -> <What>Result`` with ``p`` its section of the parameter set;
its checks are built from the rows of :data:`.claims.CLAIMS`. Figures are in :mod:`.plots`.
Contexts are centred (centring on) unless stated.

- :func:`closed_form`: the silent-point closed form against ``L M J Jᵀ`` from JAX;
  ``ntk_closed_form``.
- :func:`lse_families`: the LSE test on the families of ``lse_verdicts``,
  ``null_vectors``.
- :func:`model_families`: the NTK on the same families; ``ntk_singular``, ``translates_uncentred``,
  ``lse_ntk_agree``.
- :func:`scan`: a translate deformed continuously into a generic cloud; ``scan_together``.
- :func:`empirical_gauss`: sampled Gaussians are only nearly dependent; ``empirical_gauss``.
- :func:`mean_field`: the NTK of ``P`` head pairs against its mean-field limit; ``ntk_mc_rate``.
- :func:`rank`: too few heads make the kernel singular by rank; ``rank_bound``.
"""

import jax
import jax.numpy as jnp
import numpy as np

from ...solver import families as fam
from ...solver import ntk, tasks
from ..checks import Checks, Result, experiment, fit_loglog, result_type
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
from .setting import HEADS, QUERIES, compare, cosine, kernel, pairs, query, readout

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

# Role tags folded into an experiment's key (STYLE.md §7): fixed integers, never reused
# (HEADS = 1 and QUERIES = 2 are in :mod:`.setting`).
DATA, SAMPLES = 0, 3
#: the numerical rank of K counts eigenvalues above this fraction of λ_max (not a band: the
#: count is compared with the bound exactly).
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
    sigma_min_affine: dict


@result_type
class ModelFamiliesResult(Result):
    names: list
    rows: dict  # family -> LSE ratio, verdict and the spectral ratios of K, K_V, K_QK
    uncentred: dict
    singular: float
    min_holding: float
    max_failing: float
    sampled_g1: dict


@result_type
class ScanResult(Result):
    slope: float
    at_zero: float


@result_type
class EmpiricalGaussResult(Result):
    slope: float
    gmean: np.ndarray
    exact: float


@result_type
class MeanFieldResult(Result):
    slope: float
    rms: np.ndarray


@result_type
class RankResult(Result):
    ranks: list
    bounds: list


# ---------------------------------------------------------------- experiments
@experiment
def closed_form(p: ClosedFormParams, *, key) -> ClosedFormResult:
    """``K^V``, ``K^QK`` at the silent point from the closed form (Model: NTK) against
    ``L M J Jᵀ`` from ``jax.vjp``/``jax.jvp``; the largest relative error of the three blocks."""
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
    }
    values = {
        "names": names,
        "verdicts": {f.name: (a.verdict, c.verdict) for f, a, c in rows},
        "reasons": {f.name: f.reason for f, _, _ in rows},
        "cosines": cosines,
        "min_holding": float(ratio_aff[data["holds"]].min()),
        "max_failing": float(ratio_aff[~data["holds"]].max()),
        "sigma_min_affine": dict(zip(names, data["sigma_min_affine"], strict=True)),
    }
    return LSEFamiliesResult(**values, data=data, check=checks)


@experiment
def model_families(p: ModelFamiliesParams, *, key) -> ModelFamiliesResult:
    """The NTK (centred contexts; infinite tokens for continuous laws) on every family, next to the
    LSE verdict; the uncentred translates; and G1 from samples (small, not zero)."""
    k_data = jax.random.fold_in(key, DATA)
    rows = {}
    for name in fam.FAMILIES:
        laws = fam.family(name, key=k_data).laws
        rows[name] = compare(laws, p, key)
    g1 = fam.family("G1", key=k_data).laws
    sampled = [
        fam.sample(law, p.n_sampled, key=jax.random.fold_in(jax.random.fold_in(key, SAMPLES), i))
        for i, law in enumerate(g1)
    ]
    rows["G1 sampled"] = compare(sampled, p, key)
    t_laws = fam.family("T", key=k_data).laws
    uncentred = kernel(t_laws, p, key, centre=False)
    names = list(rows)
    holds = [
        fam.family(n, key=k_data).affine == "independent" if n in fam.FAMILIES else None
        for n in names
    ]
    lse_ratio = np.array([rows[n]["lse"] for n in names])
    ntk_ratio = np.array([rows[n]["K"] for n in names])
    agree = [
        (rows[n]["lse"] < ntk.DEPENDENT_BELOW) == (rows[n]["K"] < ntk.DEPENDENT_BELOW)
        for n in fam.FAMILIES
    ]
    singular = max(rows[n][b] for n in ("BB", "CV") for b in ("K", "K_V", "K_QK"))
    unc = {b: ntk.spectral_ratio(getattr(uncentred, b)) for b in ("K", "K_V", "K_QK")}
    checks = Checks(
        (
            CLAIMS["ntk_singular"].check(singular),
            CLAIMS["translates_uncentred_qk"].check(unc["K_QK"]),
            CLAIMS["translates_uncentred_v"].check(min(unc["K"], unc["K_V"])),
            CLAIMS["lse_ntk_agree"].check(sum(agree), target=len(agree)),
        )
    )
    spectra = _spectra(rows, uncentred)
    data = {
        "index": np.arange(len(names)),
        "lse_ratio": lse_ratio,
        "ntk_ratio": ntk_ratio,
        "holds": np.array([h is True for h in holds]),
        "sampled": np.array([h is None for h in holds]),
        **{f"spectrum_{k.replace(' ', '_')}": v for k, v in spectra.items()},
    }
    values = {
        "names": names,
        "rows": {n: {k: v for k, v in r.items() if k != "ntk"} for n, r in rows.items()},
        "uncentred": unc,
        "singular": singular,
        "min_holding": float(ntk_ratio[data["holds"]].min()),
        "max_failing": float(ntk_ratio[~data["holds"] & ~data["sampled"]].max()),
        "sampled_g1": rows["G1 sampled"],
    }
    return ModelFamiliesResult(**values, data=data, check=checks)


@experiment
def scan(p: ScanParams, *, key) -> ScanResult:
    """T deformed: the second cloud is the first translated, with one atom moved by ``t``. At
    ``t = 0`` both quantities sit at the floor; for ``t > 0`` LSE ``ρ ∝ t`` and
    ``λ_min/λ_max ∝ t²``."""
    base = fam.family("T", key=jax.random.fold_in(key, DATA)).laws
    direction = np.zeros(np.shape(base[1].x))
    direction[0] = np.array([0.6, 0.8])[: base[1].d]
    lse_r, ntk_r = [], []
    for t in p.ts:
        laws = [base[0], fam.Discrete(base[1].x + t * direction, base[1].a), base[2]]
        row = compare(laws, p, key)
        lse_r.append(row["lse"])
        ntk_r.append(row["K"])
    ts, lse_r, ntk_r = np.array(p.ts), np.array(lse_r), np.array(ntk_r)
    pos = ts > 0
    fit = fit_loglog(lse_r[pos], ntk_r[pos])
    at_zero = max(lse_r[~pos].max(initial=0.0), ntk_r[~pos].max(initial=0.0))
    checks = Checks(
        (
            CLAIMS["scan_zero"].check(at_zero),
            CLAIMS["scan_together"].check(fit.slope),
        )
    )
    data = {
        "t": ts,
        "lse_ratio": lse_r,
        "ntk_ratio": ntk_r,
        "fit": np.where(pos, fit(np.where(pos, lse_r, 1.0)), np.nan),
    }
    return ScanResult(slope=fit.slope, at_zero=at_zero, data=data, check=checks)


@experiment
def empirical_gauss(p: EmpiricalGaussParams, *, key) -> EmpiricalGaussResult:
    """Two 1D Gaussians (dependent modulo affine) replaced by ``n`` samples each: ``ρ`` is small,
    not zero, and falls like ``n^{-1/2}``; geometric mean over seeds."""
    queries = jax.random.uniform(jax.random.fold_in(key, QUERIES), (p.K, 1), minval=-1, maxval=1)
    laws = [fam.Gaussian(np.zeros(1), np.array([[s**2]])) for s in p.sigmas]
    ns = np.array(p.ns)
    ratios = np.zeros((len(ns), p.seeds))
    k_samples = jax.random.fold_in(key, SAMPLES)
    for i, n in enumerate(ns):
        for j in range(p.seeds):
            k = jax.random.fold_in(jax.random.fold_in(k_samples, int(n)), j)
            sampled = [
                fam.sample(law, int(n), key=jax.random.fold_in(k, c)) for c, law in enumerate(laws)
            ]
            ratios[i, j] = ntk.lse_independence(sampled, queries=queries).ratio
    gmean = np.exp(np.mean(np.log(ratios), axis=1))
    fit_mask = ns >= p.fit_from
    fit = fit_loglog(ns[fit_mask], gmean[fit_mask])
    # below fit_from a few samples are far from Gaussian and the mean need not decrease
    steps = gmean[fit_mask][1:] / gmean[fit_mask][:-1]
    checks = Checks(
        (
            CLAIMS["empirical_gauss_decreasing"].check(float(steps.max())),
            CLAIMS["empirical_gauss"].check(fit.slope),
        )
    )
    data = {"n": ns, "ratio": ratios, "geometric_mean": gmean, "fit": fit(ns), "fit_mask": fit_mask}
    return EmpiricalGaussResult(
        slope=fit.slope,
        gmean=gmean,
        exact=ntk.lse_independence(laws, queries=queries).ratio,
        data=data,
        check=checks,
    )


@experiment
def mean_field(p: MeanFieldParams, *, key) -> MeanFieldResult:
    """The NTK of ``P`` mirrored head pairs (``L = 1``, ``M = 2P``) against the mean-field kernel
    ``K^∞`` (Gauss–Hermite): relative Frobenius error, RMS over seeds, ``∝ P^{-1/2}``."""
    d = 2
    laws = [law.centred() for law in fam.clouds(p.N, p.n, d, key=jax.random.fold_in(key, DATA))]
    mu = fam.stack(laws)
    xi, W = query(p.N, d), readout(d)
    ref = ntk.ntk_infinite_width(
        laws, xi[0], W, sigma_A=p.sigma_A, sigma_V=p.sigma_V, nodes=p.nodes
    )
    Ps = np.array(p.Ps)
    errors = np.zeros((len(Ps), p.seeds))
    eigs = np.zeros((len(Ps), p.N))
    # one draw of max(P) pairs per seed (the layer axis holds the seeds); smaller P use a prefix
    theta = tasks.silent_init(
        p.seeds,
        2 * int(Ps.max()),
        d,
        key=jax.random.fold_in(key, HEADS),
        sigma_A=p.sigma_A,
        sigma_V=p.sigma_V,
    )
    heads = (np.asarray(theta.A), np.asarray(theta.V))
    norm = float(np.linalg.norm(np.asarray(ref.K)))
    for i, P in enumerate(Ps):
        for j in range(p.seeds):
            K = ntk.ntk_silent(pairs(heads, j, int(P)), mu, xi, W).K
            errors[i, j] = float(np.linalg.norm(np.asarray(K) - np.asarray(ref.K))) / norm
            if j == 0:
                eigs[i] = ntk.spectrum(K)
    rms = np.sqrt(np.mean(errors**2, axis=1))
    fit = fit_loglog(Ps, rms)
    check = CLAIMS["ntk_mc_rate"].check(fit.slope)
    data = {
        "P": Ps,
        "error": errors,
        "rms": rms,
        "fit": fit(Ps),
        "eigenvalues": eigs,
        "eigenvalues_infinite": ntk.spectrum(ref.K),
    }
    return MeanFieldResult(slope=fit.slope, rms=rms, data=data, check=check)


@experiment
def rank(p: RankParams, *, key) -> RankResult:
    """With ``P`` head pairs, ``rank K = min(N d_out, P d (d_out + 1))`` (Model: NTK): generic
    clouds, ``d = 2``, ``d_out = 1``; numerical rank above ``10⁻¹⁰ λ_max``."""
    d = 2
    mu = fam.stack(
        [law.centred() for law in fam.clouds(p.N, p.n, d, key=jax.random.fold_in(key, DATA))]
    )
    xi, W = query(p.N, d), readout(d)
    ranks, bounds = [], []
    theta = tasks.silent_init(1, 2 * max(p.Ps), d, key=jax.random.fold_in(key, HEADS))
    heads = (np.asarray(theta.A), np.asarray(theta.V))
    for P in p.Ps:
        lam = ntk.spectrum(ntk.ntk_silent(pairs(heads, 0, P), mu, xi, W).K)
        ranks.append(int(np.sum(lam > RANK_RTOL * lam[-1])))
        bounds.append(ntk.rank_bound(p.N, 1, P, d))
    matches = sum(r == b for r, b in zip(ranks, bounds, strict=True))
    check = CLAIMS["rank_bound"].check(matches, target=len(ranks))
    data = {"P": np.array(p.Ps), "rank": np.array(ranks), "bound": np.array(bounds)}
    return RankResult(ranks=ranks, bounds=bounds, data=data, check=check)


# ---------------------------------------------------------------- private
def _spectra(rows, uncentred):
    """Eigenvalues of ``K``, ``K^V``, ``K^QK`` for BB, CV and the uncentred translates."""
    spectra = {
        f"{n}_{b}": ntk.spectrum(getattr(rows[n]["ntk"], b))
        for n in ("BB", "CV")
        for b in ("K", "K_V", "K_QK")
    }
    spectra.update(
        {f"T uncentred_{b}": ntk.spectrum(getattr(uncentred, b)) for b in ("K", "K_V", "K_QK")}
    )
    return spectra

"""Chapter 4, NTK injectivity and LSE independence: experiments, checks, figures (MATH.md §5, §7).

Each experiment is ``fn(p, *, key) -> Result`` with ``p`` its section of the parameter set; the
checks are those of MATH.md §7 "Chapter 4". Contexts are centred (centring on) unless stated.

- :func:`closed_form`: the silent-point closed form against ``L M J Jᵀ`` from JAX;
  ``ntk_closed_form``.
- :func:`lse_families`: the LSE test on the families of MATH.md §5.5; ``lse_verdicts``,
  ``null_vectors``.
- :func:`model_families`: the NTK on the same families; ``ntk_singular``, ``translates_uncentred``,
  ``lse_ntk_agree``.
- :func:`scan`: a translate deformed continuously into a generic cloud; ``scan_together``.
- :func:`empirical_gauss`: sampled Gaussians are only nearly dependent; ``empirical_gauss``.
- :func:`mean_field`: the NTK of ``P`` head pairs against its mean-field limit; ``ntk_mc_rate``.
- :func:`rank`: too few heads make the kernel singular by rank; ``rank_bound``.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from ..companion.params import param
from ..solver import families as fam
from ..solver import ntk, tasks
from ..solver.attention import Heads
from .checks import Check, Checks, Result, experiment, fit_loglog

__all__ = [
    "Params",
    "closed_form",
    "lse_families",
    "model_families",
    "scan",
    "empirical_gauss",
    "mean_field",
    "rank",
    "plot_blocks",
    "plot_lse_families",
    "plot_agreement",
    "plot_spectra",
    "plot_scan",
    "plot_empirical_gauss",
    "plot_mean_field",
    "plot_rank",
]

# Role tags folded into an experiment's key (STYLE.md §7): fixed integers, never reused.
DATA, HEADS, QUERIES, SAMPLES = 0, 1, 2, 3
#: the closed form is the same algebra as J Jᵀ: float64 round-off (MATH.md §5.1: 8e-16).
CLOSED_FORM_RTOL = 1e-12
#: a relation the theory predicts exactly is found to round-off: 1 − |cos(c, c_pred)| < 1e-8.
NULL_COS_TOL = 1e-8
#: uncentred translates: the value block keeps a clear margin (MATH.md §5.3: 0.42/3.5 ≈ 0.1).
UNCENTRED_MARGIN = 1e-3
#: a scan in t: LSE σ_min ∝ t and λ_min(K) ∝ t² (a Gram matrix squares), slope 2 ± 0.2.
SCAN_SLOPE, SCAN_SLOPE_TOL = 2.0, 0.2
#: the numerical rank of K counts eigenvalues above this fraction of λ_max.
RANK_RTOL = 1e-10


# ---------------------------------------------------------------- parameters
@dataclasses.dataclass(frozen=True)
class ClosedFormParams:
    N: int = param("number of inputs (contexts)", ge=1)
    n: int = param("atoms per context", ge=1)
    d: int = param("token dimension", ge=1)
    L: int = param("layers", ge=1)
    M: int = param("heads per layer (even: mirrored pairs)", ge=2)
    sigma_A: float = param("head scale: entries of A ~ N(0, sigma_A^2/d)", ge=0)
    sigma_V: float = param("head scale: entries of V ~ N(0, sigma_V^2/d)", ge=0)
    scale: float = param("atoms ~ N(0, scale^2 I), Dirichlet(1) weights", gt=0)


@dataclasses.dataclass(frozen=True)
class LSEFamiliesParams:
    K: int = param("query points q ~ N(0, s^2 I), s = 3/R", ge=100)


@dataclasses.dataclass(frozen=True)
class ModelFamiliesParams:
    L: int = param("layers", ge=1)
    M: int = param("heads per layer (even: mirrored pairs)", ge=2)
    sigma_A: float = param("head scale: entries of A ~ N(0, sigma_A^2/d)", ge=0)
    sigma_V: float = param("head scale: entries of V ~ N(0, sigma_V^2/d)", ge=0)
    n_sampled: int = param("samples per Gaussian of the sampled G1 row", ge=2)
    K: int = param("query points of the LSE test", ge=100)


@dataclasses.dataclass(frozen=True)
class ScanParams:
    ts: tuple[float, ...] = param("deformation amplitudes t (0 = exact translate)", ge=0)
    L: int = param("layers", ge=1)
    M: int = param("heads per layer (even)", ge=2)
    sigma_A: float = param("head scale of A", ge=0)
    sigma_V: float = param("head scale of V", ge=0)
    K: int = param("query points of the LSE test", ge=100)


@dataclasses.dataclass(frozen=True)
class EmpiricalGaussParams:
    sigmas: tuple[float, ...] = param("standard deviations of the two 1D Gaussians", gt=0)
    ns: tuple[int, ...] = param("samples per Gaussian", ge=2)
    fit_from: int = param("the slope is fitted on n >= fit_from", ge=2)
    seeds: int = param("independent samples per n", ge=2)
    K: int = param("query points q ~ U[-1, 1]", ge=10)


@dataclasses.dataclass(frozen=True)
class MeanFieldParams:
    N: int = param("number of contexts", ge=1)
    n: int = param("atoms per context (d = 2)", ge=1)
    Ps: tuple[int, ...] = param("numbers of head pairs P = L M / 2", ge=1)
    seeds: int = param("independent draws of the heads per P", ge=2)
    nodes: int = param("Gauss-Hermite nodes per axis of the mean-field reference", ge=10)
    sigma_A: float = param("head scale of A", ge=0)
    sigma_V: float = param("head scale of V", ge=0)


@dataclasses.dataclass(frozen=True)
class RankParams:
    N: int = param("number of contexts (d = 2, d_out = 1)", ge=1)
    n: int = param("atoms per context", ge=1)
    Ps: tuple[int, ...] = param("numbers of head pairs", ge=1)


@dataclasses.dataclass(frozen=True)
class Params:
    seed: int = param("root of every random draw of the chapter", ge=0)
    closed_form: ClosedFormParams = param("closed form against the JAX Jacobian")
    lse_families: LSEFamiliesParams = param("the LSE test on fixed families")
    model_families: ModelFamiliesParams = param("the NTK on the same families")
    scan: ScanParams = param("from a failing family to a holding one")
    empirical_gauss: EmpiricalGaussParams = param("sampled Gaussians")
    mean_field: MeanFieldParams = param("finite width against the mean-field NTK")
    rank: RankParams = param("rank of K with few heads")


# ---------------------------------------------------------------- experiments
@experiment
def closed_form(p: ClosedFormParams, *, key) -> Result:
    """``K^V``, ``K^QK`` at the silent point from the closed form of MATH.md §5.1 against
    ``L M J Jᵀ`` from ``jax.vjp``/``jax.jvp``; the largest relative error of the three blocks."""
    theta = tasks.silent_init(
        p.L, p.M, p.d, key=jax.random.fold_in(key, HEADS), sigma_A=p.sigma_A, sigma_V=p.sigma_V
    )
    laws = fam.clouds(p.N, p.n, p.d, key=jax.random.fold_in(key, DATA))
    mu = fam.stack([fam.Discrete(p.scale * law.x, law.a).centred() for law in laws])
    xi, W = _query(p.N, p.d), _readout(p.d)
    exact, jac = ntk.ntk_silent(theta, mu, xi, W), ntk.ntk_jacobian(theta, mu, xi, W)
    errors = {
        f: float(
            jnp.max(jnp.abs(getattr(exact, f) - getattr(jac, f)))
            / jnp.max(jnp.abs(getattr(exact, f)))
        )
        for f in ("K", "K_V", "K_QK")
    }
    worst = max(errors.values())
    check = Check.below("ntk_closed_form", worst, CLOSED_FORM_RTOL)
    data = {
        "K_V": np.asarray(exact.K_V),
        "K_QK": np.asarray(exact.K_QK),
        "K": np.asarray(exact.K),
        "difference": np.asarray(jnp.abs(exact.K - jac.K)),
    }
    return Result(
        values={"errors": errors, "error": worst, "eigenvalues": ntk.spectrum(exact.K)},
        data=data,
        check=check,
    )


@experiment
def lse_families(p: LSEFamiliesParams, *, key) -> Result:
    """The LSE test, modulo affine functions and modulo constants, on every family of MATH.md
    §5.5; the null combination found against the predicted one."""
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
    cosines = {f.name: _cos(a.null, f.null) for f, a, _ in rows if f.null is not None}
    checks = Checks(
        (
            Check.within("lse_verdicts", sum(ok_aff) + sum(ok_const), 2 * len(rows), 0, decimals=0),
            Check.below("null_vectors", 1 - min(cosines.values()), NULL_COS_TOL),
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
    return Result(values=values, data=data, check=checks)


@experiment
def model_families(p: ModelFamiliesParams, *, key) -> Result:
    """The NTK (centred contexts; infinite tokens for continuous laws) on every family, next to the
    LSE verdict; the uncentred translates; and G1 from samples (small, not zero)."""
    k_data = jax.random.fold_in(key, DATA)
    rows = {}
    for name in fam.FAMILIES:
        laws = fam.family(name, key=k_data).laws
        rows[name] = _compare(laws, p, key)
    g1 = fam.family("G1", key=k_data).laws
    sampled = [
        fam.sample(law, p.n_sampled, key=jax.random.fold_in(jax.random.fold_in(key, SAMPLES), i))
        for i, law in enumerate(g1)
    ]
    rows["G1 sampled"] = _compare(sampled, p, key)
    t_laws = fam.family("T", key=k_data).laws
    uncentred = _kernel(t_laws, p, key, centre=False)
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
            Check.below("ntk_singular", singular, ntk.DEPENDENT_BELOW),
            Check.below("translates_uncentred_qk", unc["K_QK"], ntk.DEPENDENT_BELOW),
            Check.above("translates_uncentred_v", min(unc["K"], unc["K_V"]), UNCENTRED_MARGIN),
            Check.within("lse_ntk_agree", sum(agree), len(agree), 0, decimals=0),
        )
    )
    spectra = {
        f"{n}_{b}": ntk.spectrum(getattr(rows[n]["ntk"], b))
        for n in ("BB", "CV")
        for b in ("K", "K_V", "K_QK")
    }
    spectra.update(
        {f"T uncentred_{b}": ntk.spectrum(getattr(uncentred, b)) for b in ("K", "K_V", "K_QK")}
    )
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
    return Result(values=values, data=data, check=checks)


@experiment
def scan(p: ScanParams, *, key) -> Result:
    """T deformed: the second cloud is the first translated, with one atom moved by ``t``. At
    ``t = 0`` both quantities sit at the floor; for ``t > 0`` LSE ``ρ ∝ t`` and
    ``λ_min/λ_max ∝ t²``."""
    base = fam.family("T", key=jax.random.fold_in(key, DATA)).laws
    direction = np.zeros(np.shape(base[1].x))
    direction[0] = np.array([0.6, 0.8])[: base[1].d]
    lse_r, ntk_r = [], []
    for t in p.ts:
        laws = [base[0], fam.Discrete(base[1].x + t * direction, base[1].a), base[2]]
        row = _compare(laws, p, key)
        lse_r.append(row["lse"])
        ntk_r.append(row["K"])
    ts, lse_r, ntk_r = np.array(p.ts), np.array(lse_r), np.array(ntk_r)
    pos = ts > 0
    fit = fit_loglog(lse_r[pos], ntk_r[pos])
    at_zero = max(lse_r[~pos].max(initial=0.0), ntk_r[~pos].max(initial=0.0))
    checks = Checks(
        (
            Check.below("scan_zero", at_zero, ntk.DEPENDENT_BELOW),
            Check.within("scan_together", fit.slope, SCAN_SLOPE, SCAN_SLOPE_TOL),
        )
    )
    data = {
        "t": ts,
        "lse_ratio": lse_r,
        "ntk_ratio": ntk_r,
        "fit": np.where(pos, fit(np.where(pos, lse_r, 1.0)), np.nan),
    }
    return Result(values={"slope": fit.slope, "at_zero": at_zero}, data=data, check=checks)


@experiment
def empirical_gauss(p: EmpiricalGaussParams, *, key) -> Result:
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
            Check.below("empirical_gauss_decreasing", float(steps.max()), 1.0, show_value=True),
            Check.between("empirical_gauss", fit.slope, -0.7, -0.3),
        )
    )
    data = {"n": ns, "ratio": ratios, "geometric_mean": gmean, "fit": fit(ns), "fit_mask": fit_mask}
    return Result(
        values={
            "slope": fit.slope,
            "gmean": gmean,
            "exact": ntk.lse_independence(laws, queries=queries).ratio,
        },
        data=data,
        check=checks,
    )


@experiment
def mean_field(p: MeanFieldParams, *, key) -> Result:
    """The NTK of ``P`` mirrored head pairs (``L = 1``, ``M = 2P``) against the mean-field kernel
    ``K^∞`` (Gauss–Hermite): relative Frobenius error, RMS over seeds, ``∝ P^{-1/2}``."""
    d = 2
    laws = [law.centred() for law in fam.clouds(p.N, p.n, d, key=jax.random.fold_in(key, DATA))]
    mu = fam.stack(laws)
    xi, W = _query(p.N, d), _readout(d)
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
            K = ntk.ntk_silent(_pairs(heads, j, int(P)), mu, xi, W).K
            errors[i, j] = float(np.linalg.norm(np.asarray(K) - np.asarray(ref.K))) / norm
            if j == 0:
                eigs[i] = ntk.spectrum(K)
    rms = np.sqrt(np.mean(errors**2, axis=1))
    fit = fit_loglog(Ps, rms)
    check = Check.within("ntk_mc_rate", fit.slope, -0.5, 0.1)
    data = {
        "P": Ps,
        "error": errors,
        "rms": rms,
        "fit": fit(Ps),
        "eigenvalues": eigs,
        "eigenvalues_infinite": ntk.spectrum(ref.K),
    }
    return Result(values={"slope": fit.slope, "rms": rms}, data=data, check=check)


@experiment
def rank(p: RankParams, *, key) -> Result:
    """With ``P`` head pairs, ``rank K = min(N d_out, P d (d_out + 1))`` (MATH.md §5.3): generic
    clouds, ``d = 2``, ``d_out = 1``; numerical rank above ``10⁻¹⁰ λ_max``."""
    d = 2
    mu = fam.stack(
        [law.centred() for law in fam.clouds(p.N, p.n, d, key=jax.random.fold_in(key, DATA))]
    )
    xi, W = _query(p.N, d), _readout(d)
    ranks, bounds = [], []
    theta = tasks.silent_init(1, 2 * max(p.Ps), d, key=jax.random.fold_in(key, HEADS))
    heads = (np.asarray(theta.A), np.asarray(theta.V))
    for P in p.Ps:
        lam = ntk.spectrum(ntk.ntk_silent(_pairs(heads, 0, P), mu, xi, W).K)
        ranks.append(int(np.sum(lam > RANK_RTOL * lam[-1])))
        bounds.append(ntk.rank_bound(p.N, 1, P, d))
    matches = sum(r == b for r, b in zip(ranks, bounds, strict=True))
    check = Check.within("rank_bound", matches, len(ranks), 0, decimals=0)
    data = {"P": np.array(p.Ps), "rank": np.array(ranks), "bound": np.array(bounds)}
    return Result(values={"ranks": ranks, "bounds": bounds}, data=data, check=check)


# ---------------------------------------------------------------- figures
def plot_blocks(result: Result):
    """The kernel and its two blocks (closed form), and ``|K_closed − K_jax|`` (log scale)."""
    from ..companion.figures import new_figure

    d = result.data
    fig, axes = new_figure(4, width="page", height=2.0)
    titles = ("$\\mathbf{K}^V$", "$\\mathbf{K}^{QK}$", "$\\mathbf{K}$")
    vmax = float(np.max(np.abs(d["K"])))
    for ax, name, title in zip(axes[:3], ("K_V", "K_QK", "K"), titles, strict=True):
        im = ax.imshow(d[name], cmap="RdBu_r", vmin=-vmax, vmax=vmax)
        ax.set(title=title, xticks=[], yticks=[])
    fig.colorbar(im, ax=axes[2], shrink=0.8)
    im = axes[3].imshow(np.log10(np.maximum(d["difference"], 1e-18)), cmap="viridis")
    axes[3].set(title="$\\log_{10}|$closed form $-$ JAX$|$", xticks=[], yticks=[])
    fig.colorbar(im, ax=axes[3], shrink=0.8)
    return fig


def plot_lse_families(result: Result):
    """``σ_min/σ_max`` per family, modulo affine functions and modulo constants, with the two
    thresholds; values at the floor are drawn at 10⁻¹⁷."""
    from ..companion.figures import new_figure

    d = result.data
    fig, ax = new_figure(1, width="page", height=2.6)
    x = d["index"]
    floor = 1e-17
    ax.bar(x - 0.2, np.maximum(d["ratio_affine"], floor), 0.4, label="modulo affine")
    ax.bar(x + 0.2, np.maximum(d["ratio_constant"], floor), 0.4, label="modulo constants")
    ax.axhline(ntk.INDEPENDENT_ABOVE, color="C2", ls="--", lw=0.9, label="independent above")
    ax.axhline(ntk.DEPENDENT_BELOW, color="C1", ls="--", lw=0.9, label="dependent below")
    split = int(np.sum(d["holds"])) - 0.5
    ax.axvline(split, color="0.3", lw=0.8)
    ax.set(
        xticks=x,
        yscale="log",
        ylim=(floor / 3, 1e5),
        ylabel="$\\sigma_{\\min}/\\sigma_{\\max}$",
        title="LSE test: families expected to hold (left) and to fail (right)",
    )
    ax.set_xticklabels(result.values["names"])
    ax.legend(ncol=4, loc="upper center")
    return fig


def plot_agreement(result: Result):
    """NTK ``λ_min/λ_max`` (centred) against the LSE ``σ_min/σ_max`` (modulo affine), one point per
    family; both vanish together."""
    from ..companion.figures import new_figure

    d = result.data
    fig, ax = new_figure(1, height=3.0)
    floor = 1e-18
    x, y = np.maximum(d["lse_ratio"], floor), np.maximum(d["ntk_ratio"], floor)
    for mask, label, color, marker in (
        (d["holds"], "expected to hold", "C2", "o"),
        (~d["holds"] & ~d["sampled"], "expected to fail", "C1", "s"),
        (d["sampled"], "G1 from samples", "C0", "^"),
    ):
        ax.loglog(x[mask], y[mask], marker, color=color, label=label)
    for xi, yi, name in zip(x, y, result.values["names"], strict=True):
        ax.annotate(name, (xi, yi), fontsize=6, xytext=(3, 2), textcoords="offset points")
    ax.axvline(ntk.DEPENDENT_BELOW, color="0.4", ls="--", lw=0.8)
    ax.axhline(ntk.DEPENDENT_BELOW, color="0.4", ls="--", lw=0.8)
    ax.set(
        xlabel="LSE $\\sigma_{\\min}/\\sigma_{\\max}$ (mod affine)",
        ylabel="NTK $\\lambda_{\\min}/\\lambda_{\\max}$ (centred)",
        title="the two criteria agree",
    )
    ax.legend(loc="upper left")
    return fig


def plot_spectra(result: Result):
    """Eigenvalues of ``K``, ``K^V``, ``K^QK`` for BB, CV (centred) and uncentred translates."""
    from ..companion.figures import new_figure

    d = result.data
    fig, axes = new_figure(3, width="page", height=2.4, sharey=True)
    floor = 1e-18
    for ax, name in zip(axes, ("BB", "CV", "T uncentred"), strict=True):
        for k, (block, marker) in enumerate((("K", "o"), ("K_V", "s"), ("K_QK", "^"))):
            lam = np.maximum(np.abs(d[f"spectrum_{name.replace(' ', '_')}_{block}"]), floor)
            ax.semilogy(
                np.arange(lam.size) + 0.1 * (k - 1),
                lam,
                marker,
                color=f"C{k}",
                label=f"${block.replace('_QK', '^{QK}').replace('_V', '^V')}$",
            )
        ax.axhline(floor * 10, color="0.5", lw=0.6)
        ax.set(title=name, xlabel="index", xticks=range(lam.size))
    axes[0].set_ylabel("$|\\lambda|$")
    axes[0].legend()
    return fig


def plot_scan(result: Result):
    """Left: both quantities against the deformation ``t``. Right: one against the other with the
    fitted line (slope 2 expected)."""
    from ..companion.figures import new_figure

    d = result.data
    fig, (ax, ax_r) = new_figure(2, width="page", height=2.6)
    floor = 1e-18
    t = np.where(d["t"] > 0, d["t"], np.nan)
    ax.loglog(t, d["lse_ratio"], "o-", label="LSE $\\sigma_{\\min}/\\sigma_{\\max}$")
    ax.loglog(t, d["ntk_ratio"], "s-", label="NTK $\\lambda_{\\min}/\\lambda_{\\max}$")
    ax.set(xlabel="deformation $t$", title="leaving the translates", ylabel="ratio")
    ax.legend()
    x, y = np.maximum(d["lse_ratio"], floor), np.maximum(d["ntk_ratio"], floor)
    ax_r.loglog(x, y, "o", color="C2", label="scan ($t = 0$ at the floor)")
    ax_r.loglog(
        x,
        d["fit"],
        "-",
        color="0.3",
        lw=0.9,
        label=f"fit: slope {result.values['slope']:.2f} (2 expected)",
    )
    ax_r.set(
        xlabel="LSE $\\sigma_{\\min}/\\sigma_{\\max}$",
        ylabel="NTK $\\lambda_{\\min}/\\lambda_{\\max}$",
        title="they vanish together",
    )
    ax_r.legend(loc="upper left")
    return fig


def plot_empirical_gauss(result: Result):
    """``σ_min/σ_max`` of two sampled 1D Gaussians against ``n`` (seeds as dots, geometric mean,
    fitted line)."""
    from ..companion.figures import new_figure

    d = result.data
    fig, ax = new_figure(1, height=2.8)
    ax.loglog(np.repeat(d["n"], d["ratio"].shape[1]), d["ratio"].ravel(), ".", color="0.7", ms=2)
    ax.loglog(d["n"], d["geometric_mean"], "o", color="C0", label="geometric mean")
    m = d["fit_mask"]
    ax.loglog(
        d["n"][m],
        d["fit"][m],
        "-",
        color="C0",
        label=f"fit: slope {result.values['slope']:.2f} (about $-1/2$)",
    )
    ax.set(
        xlabel="samples $n$",
        ylabel="$\\sigma_{\\min}/\\sigma_{\\max}$",
        title="sampled Gaussians: nearly dependent",
    )
    ax.legend()
    return fig


def plot_mean_field(result: Result):
    """Left: relative error against ``P`` with the fit. Right: eigenvalues of ``K`` (one draw) per
    ``P`` and those of ``K^∞`` (lines)."""
    from ..companion.figures import new_figure

    d = result.data
    fig, (ax, ax_r) = new_figure(2, width="page", height=2.6)
    ax.loglog(np.repeat(d["P"], d["error"].shape[1]), d["error"].ravel(), ".", color="0.7", ms=2)
    ax.loglog(d["P"], d["rms"], "o", color="C0", label="RMS over seeds")
    ax.loglog(
        d["P"],
        d["fit"],
        "-",
        color="C0",
        label=f"fit: slope {result.values['slope']:.2f} ($-1/2$ expected)",
    )
    ax.set(
        xlabel="head pairs $P$",
        ylabel="$\\|K_P - K^\\infty\\|_F/\\|K^\\infty\\|_F$",
        title="width: error against $P$",
    )
    ax.legend()
    for k in range(d["eigenvalues"].shape[1]):
        ax_r.semilogx(d["P"], d["eigenvalues"][:, k], "o-", color=f"C{k % 8}", lw=0.8)
        ax_r.axhline(d["eigenvalues_infinite"][k], color=f"C{k % 8}", ls="--", lw=0.8)
    ax_r.set(
        xlabel="head pairs $P$",
        ylabel="eigenvalues",
        yscale="log",
        title="$K_P$ (dots) and $K^\\infty$ (dashed)",
    )
    return fig


def plot_rank(result: Result):
    """Numerical rank of ``K`` against the number of head pairs, with the bound."""
    from ..companion.figures import new_figure

    d = result.data
    fig, ax = new_figure(1, height=2.4)
    ax.plot(d["P"], d["bound"], "-", color="0.3", label="$\\min(N d_{out}, P d (d_{out}+1))$")
    ax.plot(d["P"], d["rank"], "o", color="C0", label="rank of $K$")
    ax.set(xlabel="head pairs $P$", ylabel="rank", title="too few heads: singular by rank")
    ax.legend()
    return fig


# ---------------------------------------------------------------- private
def _query(N, d):
    """The common query ``ξ_0 = (1, .5, 0, ...)`` (``1`` in 1D) of MATH.md §7, for N inputs."""
    xi0 = np.zeros(d)
    xi0[:2] = (1.0, 0.5)[:d]
    return jnp.asarray(np.broadcast_to(xi0, (N, d)))


def _readout(d):
    """The readout ``W = (1, −.5, 0, ...)`` (``1`` in 1D), ``d_out = 1``."""
    W = np.zeros((1, d))
    W[0, :2] = (1.0, -0.5)[:d]
    return jnp.asarray(W)


def _pairs(heads, layer, P):
    """The first ``P`` mirrored pairs of one layer of silent heads ``(A, V)`` (NumPy), as a
    one-layer network."""
    A, V = heads[0][layer, :P], heads[1][layer, :P]
    return Heads(
        jnp.asarray(np.concatenate([A, A])[None]), jnp.asarray(np.concatenate([V, -V])[None])
    )


def _cos(c, c_pred):
    c_pred = np.asarray(c_pred, float)
    return float(abs(c @ c_pred) / (np.linalg.norm(c) * np.linalg.norm(c_pred)))


def _kernel(laws, p, key, centre=True):
    d = laws[0].d
    theta = tasks.silent_init(
        p.L,
        p.M,
        d,
        key=jax.random.fold_in(jax.random.fold_in(key, HEADS), d),
        sigma_A=p.sigma_A,
        sigma_V=p.sigma_V,
    )
    if centre:
        laws = [law.centred() for law in laws]
    return ntk.ntk_silent(theta, laws, _query(len(laws), d), _readout(d))


def _compare(laws, p, key):
    """LSE ratio (modulo affine) and the centred NTK's spectral ratios for one list of laws."""
    report = ntk.lse_independence(laws, K=p.K, key=jax.random.fold_in(key, QUERIES))
    K = _kernel(laws, p, key)
    return {
        "lse": report.ratio,
        "lse_verdict": report.verdict,
        "ntk": K,
        **{b: ntk.spectral_ratio(getattr(K, b)) for b in ("K", "K_V", "K_QK")},
    }

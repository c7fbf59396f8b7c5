"""Chapter 4, one key of each repeated experiment of :mod:`.run` (its rows, fits and counts),
and the batched draws they use. The experiments split their key into ``p.keys`` keys and call
these once per key (or once for all keys, batched)."""

import jax
import jax.numpy as jnp
import numpy as np

from ...solver import families as fam
from ...solver import ntk, tasks
from ...solver.attention import Heads
from ..checks import fit_loglog
from .setting import DATA, HEADS, QUERIES, SAMPLES, compare, kernel, query, readout

__all__ = [
    "predicted",
    "families_once",
    "scan_once",
    "gauss_draws",
    "gauss_lse",
    "gauss_ratio",
    "mean_field_once",
]


def predicted(name):
    """The predicted affine verdict of a row (None for rows outside the table: G1 sampled)."""
    return fam.TABLE[name].affine if name in fam.TABLE else None


def families_once(p, key):
    """One key of :func:`~.run.model_families`: every row, the uncentred translates, the counts."""
    k_data = jax.random.fold_in(key, DATA)
    rows = {name: compare(fam.family(name, key=k_data).laws, p, key) for name in fam.FAMILIES}
    g1 = fam.family("G1", key=k_data).laws
    k_samples = jax.random.fold_in(key, SAMPLES)
    sampled = [
        fam.sample(law, p.n_sampled, key=jax.random.fold_in(k_samples, i))
        for i, law in enumerate(g1)
    ]
    rows["G1 sampled"] = compare(sampled, p, key)
    t_uncentred = kernel(fam.family("T", key=k_data).laws, p, key, centre=False)
    # the kernel's and the test's ratios are sampled at the same query law for the relation
    relation = max(
        abs(np.log10(r["features"] / r["lse_heads"]))
        for r in rows.values()
        if r["lse_verdict"] != "dependent" and r["ntk_verdict"] != "dependent"
    )
    return {
        "rows": rows,
        "agree": sum(r["lse_verdict"] == r["ntk_verdict"] for r in rows.values()),
        "singular": max(rows[n][b] for n in ("BB", "CV") for b in ("K", "K_V", "K_QK")),
        "uncentred": {b: ntk.spectral_ratio(getattr(t_uncentred, b)) for b in ("K", "K_V", "K_QK")},
        "T_uncentred": t_uncentred,
        "relation": float(relation),
    }


def scan_once(p, key):
    """One key of :func:`~.run.scan`: the three ratios along the path, their fits, the verdicts."""
    base = fam.family("T", key=jax.random.fold_in(key, DATA)).laws
    # the heaviest atom: a light one moves the LSE only in proportion to its weight
    direction = np.zeros(np.shape(base[1].x))
    direction[int(np.argmax(np.asarray(base[1].a)))] = np.array([0.6, 0.8])[: base[1].d]
    rows = [
        compare([base[0], fam.Discrete(base[1].x + t * direction, base[1].a), base[2]], p, key)
        for t in p.ts
    ]
    ts = np.array(p.ts)
    lse_r, feat_r, ntk_r = (np.array([r[k] for r in rows]) for k in ("lse", "features", "K"))
    pos = ts > 0
    # λ_min/λ_max squares the feature ratio: it reaches its floor (~1e-16) at feature ratios
    # near 1e-8, so its fit keeps the points above the dependence threshold
    fit_mask = pos & (ntk_r > ntk.DEPENDENT_BELOW)
    return {
        "t": ts,
        "lse": lse_r,
        "features": feat_r,
        "ntk": ntk_r,
        "fit_mask": fit_mask,
        "fit": fit_loglog(lse_r[fit_mask], ntk_r[fit_mask]),
        "fit_features": fit_loglog(lse_r[pos], feat_r[pos]),
        "at_zero": max(np.max(np.abs(r[~pos]), initial=0.0) for r in (lse_r, feat_r, ntk_r)),
        "agree": sum(r["lse_verdict"] == r["ntk_verdict"] for r in rows),
    }


#: memory budget (bytes) of the exponentials of one batch of :func:`gauss_lse`
LSE_BYTES = 2**28


def gauss_draws(key, sigmas, n, seeds, K):
    """One key's queries, uniform on :math:`[-1, 1]`, float64 array (K,), and samples, float64
    array (seeds, C, n), of the 1D Gaussians of standard deviations ``sigmas`` (NumPy generators
    seeded from the key: no compilation per ``n``)."""
    q = fam.generator(key, QUERIES).uniform(-1.0, 1.0, K)
    z = fam.generator(jax.random.fold_in(key, SAMPLES), n).standard_normal((seeds, len(sigmas), n))
    return q, np.asarray(sigmas)[None, :, None] * z


@jax.jit
def gauss_lse(q, x):
    r""":math:`F_{skc} = \mathrm{LSE}_{\mu_{sc}}(q_{sk})
    = \log \frac1n \sum_j \exp(q_{sk} x_{scj})` (max-subtracted) for queries ``q``, float64 array
    (S, K), and samples ``x``, float64 array (S, C, n); mapped over the draws in batches whose
    exponentials fit ``LSE_BYTES``."""
    S, K, (C, n) = q.shape[0], q.shape[1], x.shape[1:]

    def lse(args):
        q, x = args
        return jax.nn.logsumexp(q[:, None, None] * x[None, :, :], axis=-1) - jnp.log(n)

    batch = int(min(S, max(1, LSE_BYTES // (8 * K * C * n))))
    return jax.lax.map(lse, (q, x), batch_size=batch)


@jax.jit
def gauss_ratio(q, F):
    r""":math:`\rho` modulo affine functions of each LSE matrix (one compilation for every
    :math:`n`)."""
    basis = jnp.stack([jnp.ones_like(q), q], axis=-1)
    return jax.vmap(ntk.projected_ratio)(F, basis)


#: memory budget (bytes) of one pass of :func:`~mftransformer.solver.ntk.ntk_silent_prefixes` in
#: :func:`mean_field_once`: the draws (layers) are processed in chunks that fit it
PREFIX_BYTES = 2**29


def mean_field_once(p, key):
    """One key of :func:`~.run.mean_field`: errors, float64 array (P, seed), their RMS,
    eigenvalues."""
    d = 2
    laws = [law.centred() for law in fam.clouds(p.N, p.n, d, key=jax.random.fold_in(key, DATA))]
    mu, xi, W = fam.stack(laws), query(p.N, d), readout(d)
    ref = ntk.ntk_infinite_width(
        laws, xi[0], W, sigma_A=p.sigma_A, sigma_V=p.sigma_V, nodes=p.nodes
    )
    K_ref = np.asarray(ref.K)
    P_max = max(p.Ps)
    # one draw of max(P) pairs per seed (the layer axis holds the seeds); smaller P use a prefix
    k_heads = jax.random.fold_in(key, HEADS)
    theta = tasks.silent_init(
        p.seeds, 2 * P_max, d, key=k_heads, sigma_A=p.sigma_A, sigma_V=p.sigma_V
    )
    # tilted weights, means, covariances and their products: about 4 (n + 2 d²) numbers per
    # pair and context
    per_seed = 8 * 4 * P_max * p.N * (p.n + 2 * d * d)
    fits = max(1, PREFIX_BYTES // per_seed)
    chunk = max(c for c in range(1, p.seeds + 1) if p.seeds % c == 0 and c <= fits)  # one shape
    kernels = np.concatenate(
        [
            ntk.ntk_silent_prefixes(
                Heads(theta.A[s : s + chunk], theta.V[s : s + chunk]), mu, xi, W, p.Ps
            )
            for s in range(0, p.seeds, chunk)
        ],
        axis=1,
    )  # (P, seed, N, N)
    errors = np.linalg.norm(kernels - K_ref, axis=(2, 3)) / np.linalg.norm(K_ref)
    return {
        "errors": errors,
        "rms": np.sqrt(np.mean(errors**2, axis=1)),
        "eigenvalues": np.stack([ntk.spectrum(K) for K in kernels[:, 0]]),
        "eigenvalues_infinite": ntk.spectrum(K_ref),
    }

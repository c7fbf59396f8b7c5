"""Chapter 4 settings: the common query and readout, silent kernels of a list of laws, and the
comparison of the LSE test with the NTK that the experiments of :mod:`.run` repeat."""

import math

import jax
import jax.numpy as jnp
import numpy as np

from ...solver import ntk, tasks
from ...solver.attention import Heads

__all__ = [
    "DATA",
    "HEADS",
    "QUERIES",
    "SAMPLES",
    "HEAD_QUERIES",
    "query",
    "readout",
    "query_scale",
    "pairs",
    "cosine",
    "heads",
    "kernel",
    "compare",
    "VERDICT_CODE",
]

# Role tags folded into an experiment's key (STYLE.md §7): fixed integers, never reused.
DATA, HEADS, QUERIES, SAMPLES, HEAD_QUERIES = 0, 1, 2, 3, 4
#: the three verdicts as numbers, for the figure data (0 fails, 1 inconclusive, 2 holds)
VERDICT_CODE = {"dependent": 0, "ill-conditioned": 1, "independent": 2}


def query(N, d):
    r"""The common query :math:`\xi_0 = (1, 0.5, 0, \dots)` (1 in 1D) of the claims, for N
    inputs."""
    xi0 = np.zeros(d)
    xi0[:2] = (1.0, 0.5)[:d]
    return jnp.asarray(np.broadcast_to(xi0, (N, d)))


def readout(d):
    r"""The readout :math:`W = (1, -0.5, 0, \dots)` (1 in 1D), :math:`d_{\rm out} = 1`."""
    W = np.zeros((1, d))
    W[0, :2] = (1.0, -0.5)[:d]
    return jnp.asarray(W)


def query_scale(d, sigma_A):
    r"""The scale :math:`\tau = \sigma_A |\xi_0| / \sqrt d` of the heads' queries: with Gaussian
    heads, :math:`q = A\xi_0 \sim \mathcal N(0, \tau^2 I_d)`."""
    return sigma_A * float(np.linalg.norm(np.asarray(query(1, d))[0])) / math.sqrt(d)


def pairs(heads, layer, P):
    """The first ``P`` mirrored pairs of one layer of silent heads :math:`(A, V)` (NumPy), as a
    one-layer network."""
    A, V = heads[0][layer, :P], heads[1][layer, :P]
    return Heads(
        jnp.asarray(np.concatenate([A, A])[None]), jnp.asarray(np.concatenate([V, -V])[None])
    )


def cosine(c, c_pred):
    c_pred = np.asarray(c_pred, float)
    return float(abs(c @ c_pred) / (np.linalg.norm(c) * np.linalg.norm(c_pred)))


def heads(d, p, key):
    """The silent heads of an experiment (``p.L`` layers of ``p.M`` heads) in dimension ``d``."""
    return tasks.silent_init(
        p.L,
        p.M,
        d,
        key=jax.random.fold_in(jax.random.fold_in(key, HEADS), d),
        sigma_A=p.sigma_A,
        sigma_V=p.sigma_V,
    )


def kernel(laws, p, key, centre=True):
    """The silent NTK of the laws (centred unless ``centre=False``)."""
    d = laws[0].d
    if centre:
        laws = [law.centred() for law in laws]
    return ntk.ntk_silent(heads(d, p, key), laws, query(len(laws), d), readout(d))


def compare(laws, p, key):
    r"""The LSE test and the centred NTK on one list of laws, each with its three-valued verdict.

    Returns a dict: ``lse`` (:math:`\rho`, modulo affine, the test's default queries) and
    ``lse_verdict``; ``lse_heads`` (:math:`\rho` of the centred laws at the heads' query law
    :math:`\mathcal N(0, \tau^2 I)`); ``features`` (:math:`\sigma_{\min}/\sigma_{\max}` of the
    kernel's feature matrix) and ``ntk_verdict``; ``ntk`` (the kernel); ``K``, ``K_V``, ``K_QK``
    (:math:`\lambda_{\min}/\lambda_{\max}` of each block)."""
    d = laws[0].d
    report = ntk.lse_independence(laws, K=p.K, key=jax.random.fold_in(key, QUERIES))
    at_heads = ntk.lse_independence(
        laws,
        K=p.K,
        key=jax.random.fold_in(key, HEAD_QUERIES),
        scale=query_scale(d, p.sigma_A),
        centre=True,
    )
    centred = [law.centred() for law in laws]
    theta, xi, W = heads(d, p, key), query(len(laws), d), readout(d)
    K = ntk.ntk_silent(theta, centred, xi, W)
    features = ntk.feature_ratio(*ntk.silent_features(theta, centred, xi, W))
    return {
        "lse": report.ratio,
        "lse_verdict": report.verdict,
        "lse_heads": at_heads.ratio,
        "features": features,
        "ntk_verdict": ntk.verdict(features),
        "ntk": K,
        **{b: ntk.spectral_ratio(getattr(K, b)) for b in ("K", "K_V", "K_QK")},
    }

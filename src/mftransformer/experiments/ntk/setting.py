"""Chapter 4 settings: the common query and readout, silent kernels of a list of laws, and the
comparison of the LSE test with the NTK that the experiments of :mod:`.run` repeat."""

import jax
import jax.numpy as jnp
import numpy as np

from ...solver import ntk, tasks
from ...solver.attention import Heads

__all__ = ["HEADS", "QUERIES", "query", "readout", "pairs", "cosine", "kernel", "compare"]

# Role tags shared with :mod:`.run` (STYLE.md §7): fixed integers, never reused.
HEADS, QUERIES = 1, 2


def query(N, d):
    """The common query ``ξ_0 = (1, .5, 0, ...)`` (``1`` in 1D) of the claims, for N inputs."""
    xi0 = np.zeros(d)
    xi0[:2] = (1.0, 0.5)[:d]
    return jnp.asarray(np.broadcast_to(xi0, (N, d)))


def readout(d):
    """The readout ``W = (1, −.5, 0, ...)`` (``1`` in 1D), ``d_out = 1``."""
    W = np.zeros((1, d))
    W[0, :2] = (1.0, -0.5)[:d]
    return jnp.asarray(W)


def pairs(heads, layer, P):
    """The first ``P`` mirrored pairs of one layer of silent heads ``(A, V)`` (NumPy), as a
    one-layer network."""
    A, V = heads[0][layer, :P], heads[1][layer, :P]
    return Heads(
        jnp.asarray(np.concatenate([A, A])[None]), jnp.asarray(np.concatenate([V, -V])[None])
    )


def cosine(c, c_pred):
    c_pred = np.asarray(c_pred, float)
    return float(abs(c @ c_pred) / (np.linalg.norm(c) * np.linalg.norm(c_pred)))


def kernel(laws, p, key, centre=True):
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
    return ntk.ntk_silent(theta, laws, query(len(laws), d), readout(d))


def compare(laws, p, key):
    """LSE ratio (modulo affine) and the centred NTK's spectral ratios for one list of laws."""
    report = ntk.lse_independence(laws, K=p.K, key=jax.random.fold_in(key, QUERIES))
    K = kernel(laws, p, key)
    return {
        "lse": report.ratio,
        "lse_verdict": report.verdict,
        "ntk": K,
        **{b: ntk.spectral_ratio(getattr(K, b)) for b in ("K", "K_V", "K_QK")},
    }

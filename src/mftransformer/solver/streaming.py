r"""Streaming attention: the layer field and its adjoint with memory linear in the number of tokens.

The dense kernel (:meth:`~mftransformer.solver.attention.LayerField.tilt`) forms the score tensor
(M, k, n) of one context; with :math:`k = n + 1` points that is :math:`n^2` per head. Two streamed
forms keep every temporary at :math:`M c n` or less for a chunk size :math:`c`:

* **the field** (forward pass): the points are taken :math:`c` at a time, and for each block
  the keys are taken :math:`c` at a time with an *online softmax* (running maximum :math:`r`,
  running sum :math:`S` of the weights, running weighted sum :math:`P` of the keys), so the
  forward temporaries are (M, c, c):

  .. math::

      s_{kj} = \langle A z_k, x_j\rangle + \log a_j,\qquad
      r' = \max(r, \max_{j\in J} s_{kj}),\qquad
      S' = e^{r - r'} S + \sum_{j\in J} e^{s_{kj} - r'},\qquad
      P' = e^{r - r'} P + \sum_{j\in J} e^{s_{kj} - r'} x_j,

  and :math:`m_k = P/S` after the last key block :math:`J` (:math:`\mathrm{LSE} = r + \log S`).
  Under ``jax.grad`` each point block is recomputed (``jax.checkpoint``), so the backward pass holds
  (M, c, n).
* **the adjoint** (:meth:`vjp`, :meth:`param_grad`: :math:`m`, :math:`C u`, the interaction
  term): these stream over the *query* axis, the simpler form that is still linear in memory.
  Each block of :math:`c` points sees all :math:`n` keys through the dense kernel (temporaries
  (M, c, n)), and the quantities summed over points (the interaction term
  :math:`(\partial_x F)^\top \lambda` and the head gradients) are carried across blocks; the
  rows of :math:`w` are those of the dense kernel, so only the order of these sums changes.

Padding is exact: keys are padded with :math:`x = 0`, :math:`\log a = -\infty` (weight
:math:`e^{-\infty} = 0`, and a block that is all padding is skipped by the :math:`r = -\infty`
guard); points are padded with :math:`z = 0`, :math:`\lambda = 0`, whose rows are dropped and whose
contributions to the sums are exactly zero.

Chosen automatically (``chunk=None``) when the context has at least :data:`STREAM_MIN_N` atoms,
with blocks of :data:`DEFAULT_CHUNK`; ``chunk=0`` forces the dense kernel, ``chunk=c`` streams
with blocks of :math:`c`. The numbers behind both constants: ``benchmarks/chunked.py``.
"""

import jax
import jax.numpy as jnp

from .errors import ParameterError

__all__ = ["STREAM_MIN_N", "DEFAULT_CHUNK", "resolve_chunk", "online_mean", "over_points"]

#: Stream from this many context atoms on. ``benchmarks/chunked.py`` (2 shared CPU cores, float64,
#: B = 1, M = 8, d = 4, one layer, blocks of 64; streamed/dense time): field 0.58, 1.17, 0.26,
#: 0.34 and vjp 0.48, 0.63, 0.34, 0.36 at n = 256, 512, 1024, 2048, so from n = 1024 on both are
#: faster; the dense vjp's temporaries grow as n² (135 MB at n = 1024, 539 MB at 2048) and the
#: streamed ones as n (17 MB, 34 MB; 68 MB at 4096).
STREAM_MIN_N = 1024
#: Block size of the streamed kernels (points and keys). At n = 2048 (same run) blocks of 32, 64,
#: 128, 256 took 0.20, 0.14, 0.13, 0.17 s (field) and 0.37, 0.67, 1.7, 2.5 s (vjp): 64 is the
#: best compromise, and the vjp's memory is M · 64 · n per block.
DEFAULT_CHUNK = 64


def resolve_chunk(chunk, n: int, where: str = "attention") -> int:
    """The block size used for a context of :math:`n` atoms: 0 means the dense kernel.

    Args: ``chunk`` None (automatic: :data:`DEFAULT_CHUNK` if ``n >= STREAM_MIN_N``, else 0),
    0 (dense) or an integer ``>= 1`` (stream with blocks of that size).

    Raises:
        ParameterError: anything else.
    """
    if chunk is None:
        return DEFAULT_CHUNK if n >= STREAM_MIN_N else 0
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 0:
        raise ParameterError(
            f"{where}: chunk = {chunk!r}; allowed None (automatic), 0 (dense) or an integer >= 1 "
            "(the block size of the streamed kernel)."
        )
    return chunk


def _blocks(v, c: int, fill):
    """``v`` (n, ...) padded with ``fill`` to a multiple of :math:`c`, as (n/c, c, ...)."""
    pad = -v.shape[0] % c
    if pad:
        v = jnp.concatenate([v, jnp.full((pad, *v.shape[1:]), fill, v.dtype)])
    return v.reshape(v.shape[0] // c, c, *v.shape[1:])


def online_mean(Az, x, loga, c: int):
    r"""Tilted means :math:`m_{mk} = \sum_j w_{mkj} x_j` of queries ``Az`` float64 array (M, k, d)
    by an online softmax over key blocks of :math:`c` (module docstring); returns float64 array
    (M, k, d)."""
    xs, las = _blocks(x, c, 0.0), _blocks(loga, c, -jnp.inf)

    def step(carry, block):
        r, S, P = carry
        xj, lj = block
        s = jnp.einsum("mki,ni->mkn", Az, xj) + lj[None, None, :]
        # the maximum only shifts the exponent: m does not depend on it, so no gradient through it
        r_new = jnp.maximum(r, jax.lax.stop_gradient(jnp.max(s, axis=-1)))
        shift = jnp.where(jnp.isfinite(r_new), r_new, 0.0)  # a block of padding only: r = −∞
        scale = jnp.exp(r - shift)
        p = jnp.exp(s - shift[..., None])
        S = scale * S + jnp.sum(p, axis=-1)
        P = scale[..., None] * P + jnp.einsum("mkn,ni->mki", p, xj)
        return (r_new, S, P), None

    M, k, _ = Az.shape
    init = (jnp.full((M, k), -jnp.inf, Az.dtype), jnp.zeros((M, k), Az.dtype), jnp.zeros_like(Az))
    (_, S, P), _ = jax.lax.scan(step, init, (xs, las))
    return P / S[..., None]


def over_points(fn, c: int, rows, sums, *args):
    """Apply ``fn`` to blocks of :math:`c` points and reassemble: ``rows`` outputs are per point,
    ``sums`` outputs are summed over points.

    ``fn(*blocks) -> (tuple of row outputs (c, ...), tuple of summed outputs)``; ``args`` are the
    per-point inputs (k, ...) (padded with zeros, whose contributions must vanish).
    ``rows``/``sums`` are the numbers of each kind. With no summed output the blocks are a
    ``lax.map`` whose body is recomputed under ``jax.grad`` (``jax.checkpoint``): the backward
    pass then holds one block's temporaries, not all of them.
    """
    k = args[0].shape[0]
    blocks = tuple(_blocks(a, c, 0.0) for a in args)
    if sums == 0:
        out, _ = jax.lax.map(jax.checkpoint(lambda b: fn(*b)), blocks)
        return tuple(o.reshape(-1, *o.shape[2:])[:k] for o in out), ()

    shapes = jax.eval_shape(lambda b: fn(*b)[1], tuple(b[0] for b in blocks))
    init = tuple(jnp.zeros(s.shape, s.dtype) for s in shapes)

    def step(acc, b):
        r, s = fn(*b)
        return tuple(a + v for a, v in zip(acc, s, strict=True)), r

    acc, out = jax.lax.scan(step, init, blocks)
    assert len(out) == rows and len(acc) == sums, "over_points: fn returned other output counts"
    return tuple(o.reshape(-1, *o.shape[2:])[:k] for o in out), acc

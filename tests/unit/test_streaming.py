"""Streaming attention (solver/streaming.py): equal to the dense kernel, exact padding, linear
memory, and the automatic choice."""

import jax
import jax.numpy as jnp
import pytest
from tolerances import SAME_ALGEBRA_RTOL

import mftransformer as mft
from mftransformer.solver import streaming
from mftransformer.solver.attention import LayerField, state_field, state_vjp
from mftransformer.solver.streaming import resolve_chunk

RTOL = SAME_ALGEBRA_RTOL["float64"]


def rel(u, v):
    return float(jnp.max(jnp.abs(u - v)) / jnp.max(jnp.abs(v)))


def instance(B, n, d, M, zero=(), seed=0):
    k = jax.random.split(jax.random.key(seed), 6)
    A = 0.6 * jax.random.normal(k[0], (M, d, d))
    V = jax.random.normal(k[1], (M, d, d))
    x = jax.random.normal(k[2], (B, n, d))
    a = jax.random.uniform(k[3], (B, n), minval=0.2)
    for j in zero:
        a = a.at[:, j].set(0.0)
    mu = mft.EmpiricalMeasure(x, a / a.sum(1)[:, None])
    z = jnp.concatenate([x, jax.random.normal(k[4], (B, 2, d))], axis=1)
    lam = jax.random.normal(k[5], z.shape)
    return A, V, mu, z, lam


def _kernels(A, V, mu, z, lam, chunk):
    """Every kernel of the layer with one ``chunk``, in one compiled program."""
    n = mu.n
    return (
        mft.field(A, V, mu, z, chunk=chunk),
        *mft.field_vjp(A, V, mu, z, lam, chunk=chunk),
        *mft.head_param_grad(A, V, mu, z, lam, chunk=chunk),
        *state_vjp(A, V, z, mu.loga, n, lam, chunk=chunk),
    )


kernels = jax.jit(_kernels, static_argnames="chunk")


# blocks that do not divide n; zero weights in the first block of keys, so that a whole block is
# padding for the smallest block size
@pytest.mark.parametrize(("n", "chunk"), [(5, 2), (12, 5), (40, 7)])
def test_streamed_kernels_equal_the_dense_ones(n, chunk):
    A, V, mu, z, lam = instance(2, n, 3, 4, zero=(0, 1))
    streamed, dense = kernels(A, V, mu, z, lam, chunk), kernels(A, V, mu, z, lam, 0)
    errors = [rel(s, d) for s, d in zip(streamed, dense, strict=True)]
    assert len(errors) == 9 and max(errors) < RTOL, errors


def test_the_streamed_field_differentiates_like_the_dense_one():
    """jax.grad and jax.jvp through the online softmax (the NTK uses both)."""
    A, V, mu, z, lam = instance(1, 9, 2, 3, zero=(4,))

    def G(A, V, chunk):
        return jnp.sum(lam * state_field(A, V, z, mu.loga, 9, chunk=chunk))

    gs, gd = jax.grad(G, (0, 1))(A, V, 4), jax.grad(G, (0, 1))(A, V, 0)
    assert max(rel(gs[0], gd[0]), rel(gs[1], gd[1])) < RTOL
    tangent = jnp.ones_like(A)
    js = jax.jvp(lambda A: G(A, V, 4), (A,), (tangent,))[1]
    jd = jax.jvp(lambda A: G(A, V, 0), (A,), (tangent,))[1]
    assert abs(float(js - jd)) < RTOL * abs(float(jd))


def test_a_zero_weight_token_is_never_a_key():
    """Moving a zero-weight token far away leaves the streamed field at the others unchanged."""
    A, V, mu, z, _ = instance(1, 11, 2, 2, zero=(3,))
    far = mft.EmpiricalMeasure(mu.x.at[0, 3].set(1e3), mu.a)
    points = jnp.delete(z, 3, axis=1)
    f1 = mft.field(A, V, mu, points, chunk=4)
    f2 = mft.field(A, V, far, points, chunk=4)
    assert rel(f2, f1) < RTOL


@pytest.mark.parametrize("method", ["autodiff", "exact", "continuous"])
def test_forward_and_gradients_stream(method):
    A, V, mu, _, _ = instance(2, 10, 2, 4, zero=(2,))
    L = 3
    theta = mft.Heads(jnp.stack([A] * L) * 0.5, jnp.stack([V] * L) * 0.5)
    xi = jnp.ones((2, 2))
    targets = mft.Targets(T=jnp.zeros_like(mu.x), W=jnp.ones((1, 2)), y=jnp.zeros((2, 1)))
    fs = mft.forward(theta, mu, xi, chunk=3, mesh="off").z
    fd = mft.forward(theta, mu, xi, chunk=0, mesh="off").z
    assert rel(fs, fd) < RTOL
    Rs, gs = mft.cot_gradient(theta, mu, xi, targets, method=method, chunk=3, mesh="off")
    Rd, gd = mft.cot_gradient(theta, mu, xi, targets, method=method, chunk=0, mesh="off")
    errors = [rel(Rs, Rd), rel(gs.A, gd.A), rel(gs.V, gd.V)]
    assert max(errors) < RTOL, errors


def test_heun_streams():
    A, V, mu, _, _ = instance(1, 7, 2, 2)
    theta = mft.Heads(jnp.stack([A, A]), jnp.stack([V, -V]) * 0.3)
    targets = mft.Targets(T=jnp.zeros_like(mu.x))
    Rs, gs = mft.cot_gradient(theta, mu, None, targets, method="exact", scheme="heun", chunk=2)
    Rd, gd = mft.cot_gradient(theta, mu, None, targets, method="exact", scheme="heun", chunk=0)
    assert max(rel(Rs, Rd), rel(gs.A, gd.A), rel(gs.V, gd.V)) < RTOL


def test_the_choice_is_automatic_above_the_threshold():
    assert resolve_chunk(None, streaming.STREAM_MIN_N - 1) == 0
    assert resolve_chunk(None, streaming.STREAM_MIN_N) == streaming.DEFAULT_CHUNK
    assert resolve_chunk(0, 10**6) == 0 and resolve_chunk(7, 3) == 7


@pytest.mark.parametrize("chunk", [-1, 2.5, "big", True])
def test_a_bad_chunk_is_refused(chunk):
    with pytest.raises(mft.ParameterError, match=r"forward: chunk = .*; allowed None"):
        resolve_chunk(chunk, 10, "forward")


def _temp_bytes(fn, *args):
    return jax.jit(fn).lower(*args).compile().memory_analysis().temp_size_in_bytes


def test_memory_is_linear_in_n():
    """XLA's compiled memory: streamed temporaries grow like n (field and its gradient), dense
    ones like n² (the score tensor)."""
    ns, M, d, c = (256, 512, 1024), 2, 2, 64
    temp = {"dense": [], "streamed": [], "grad": []}
    for n in ns:
        x = jnp.zeros((n, d))
        loga = jnp.full((n,), -jnp.log(n))
        A = V = jnp.zeros((M, d, d))
        for kind, chunk in (("dense", 0), ("streamed", c)):
            field = LayerField(A, V, chunk)
            temp[kind].append(_temp_bytes(lambda x, loga, f=field: f.apply(x, loga, x), x, loga))

        def G(A, x=x, loga=loga, V=V):
            return jnp.sum(LayerField(A, V, c).apply(x, loga, x))

        temp["grad"].append(_temp_bytes(jax.grad(G), A))
    growth = {k: v[-1] / v[0] for k, v in temp.items()}  # n grows 4x
    assert growth["dense"] > 10, temp
    assert growth["streamed"] < 5 and growth["grad"] < 5, temp
    assert temp["streamed"][-1] < temp["dense"][-1] / 4, temp

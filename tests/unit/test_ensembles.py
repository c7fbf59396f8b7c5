"""ensembles.train_seeds: runs over seeds as one vmapped program equal the runs one by one."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import mftransformer as mft
from mftransformer.solver import ensembles, gradflow, tasks, tracers

L, M, D, N, N_TOKENS = 2, 4, 2, 3, 4


def _data():
    mu = mft.sample_cloud(jax.random.key(1), N, N_TOKENS, D)
    xi = jnp.tile(jnp.array([[1.0, 0.5]]), (N, 1))
    targets = mft.Targets(W=jnp.array([[1.0, -0.5]]), y=0.1 * jnp.ones((N, 1)))
    return mu, xi, targets


def _seeds(S):
    return [tasks.silent_init(L, M, D, key=jax.random.key(10 + s)) for s in range(S)]


def test_seeds_batched_equal_seeds_one_by_one():
    mu, xi, targets = _data()
    thetas = _seeds(3)
    batched = ensembles.train_seeds(thetas, mu, xi, targets, eta=0.1, steps=20, snapshot_every=10)
    for s, theta0 in enumerate(thetas):
        one = gradflow.train(theta0, mu, xi, targets, eta=0.1, steps=20, snapshot_every=10)
        np.testing.assert_allclose(batched.R[s], one.R, rtol=1e-12, atol=1e-300)
        np.testing.assert_allclose(batched.g2[s], one.g2, rtol=1e-12, atol=1e-300)
        np.testing.assert_allclose(batched.theta.A[s], one.theta.A, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(batched.snapshots.V[s], one.snapshots.V, rtol=1e-12, atol=1e-14)
    assert batched.R.shape == (3, 21) and batched.snapshots.A.shape == (3, 3, L, M, D, D)


@pytest.mark.parametrize("batch", [1, 2])
def test_seeds_in_batches_equal_one_batch(batch):
    # 3 runs in batches of 2 leave a remainder batch of 1
    mu, xi, targets = _data()
    thetas = _seeds(3)
    whole = ensembles.train_seeds(thetas, mu, xi, targets, eta=0.1, steps=20, snapshot_every=10)
    parts = ensembles.train_seeds(
        thetas, mu, xi, targets, eta=0.1, steps=20, snapshot_every=10, batch=batch
    )
    np.testing.assert_allclose(parts.R, whole.R, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(parts.theta.V, whole.theta.V, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(parts.snapshots.A, whole.snapshots.A, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("batch", [0, -1, True])
def test_seeds_refuse_a_batch_below_one(batch):
    mu, xi, targets = _data()
    with pytest.raises(
        mft.ParameterError, match=r"train_seeds: batch = .*allowed None or an integer >= 1"
    ):
        ensembles.train_seeds(_seeds(2), mu, xi, targets, eta=0.1, steps=20, batch=batch)


def test_a_diverging_run_is_named():
    mu, xi, targets = _data()
    with pytest.raises(mft.SolveFailed, match=r"train_seeds: run \d became non-finite at step"):
        ensembles.train_seeds(_seeds(2), mu, xi, targets, eta=1e6, steps=20)


def _runs(S):
    """``S`` independent keys: heads and data of their own."""
    out = []
    for s in range(S):
        mu = mft.sample_cloud(jax.random.key(20 + s), N, N_TOKENS, D)
        xi = jnp.tile(jnp.array([[1.0, 0.5]]), (N, 1))
        y = jax.random.normal(jax.random.key(30 + s), (N, 1))
        targets = mft.Targets(W=jnp.array([[1.0, -0.5]]), y=y)
        theta = tasks.generic_init(L, M, D, key=jax.random.key(40 + s))
        out.append((theta, (mu, xi, targets)))
    return out


def test_runs_in_chunks_equal_runs_one_by_one():
    runs = _runs(3)
    thetas, data = [r[0] for r in runs], [r[1] for r in runs]
    batched = ensembles.train_runs(thetas, data, eta=0.05, steps=20, chunk=5, snapshot_every=10)
    assert batched.R.shape == (3, 21) and batched.snapshots.A.shape == (3, 3, L, M, D, D)
    for s, (theta0, (mu, xi, targets)) in enumerate(runs):
        one = gradflow.train(theta0, mu, xi, targets, eta=0.05, steps=20, snapshot_every=10)
        np.testing.assert_allclose(batched.R[s], one.R, rtol=1e-12, atol=1e-300)
        np.testing.assert_allclose(batched.g2[s], one.g2, rtol=1e-12, atol=1e-300)
        np.testing.assert_allclose(batched.t[s], one.t, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(batched.snapshots.V[s], one.snapshots.V, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(batched.snapshot_t[s], one.snapshot_t, rtol=1e-12, atol=1e-14)


def test_runs_refuse_a_chunk_that_does_not_divide_the_steps():
    runs = _runs(1)
    with pytest.raises(mft.ParameterError, match=r"train_runs: chunk = 3 with steps = 20"):
        ensembles.train_runs([runs[0][0]], [runs[0][1]], eta=0.05, steps=20, chunk=3)


def test_tracer_gradient_at_the_network_heads_is_its_cot_gradient():
    # G_ℓ(θ) of the traced states and adjoints, differentiated at the network's own heads
    mu, xi, targets = _data()
    theta = tasks.generic_init(L, M, D, key=jax.random.key(5))
    out = mft.adjoint.discrete_adjoint(theta, mu, xi, targets, trace=True)
    g = tracers.tracer_grad(theta, out.states, out.lams, mu.loga, mu.n)
    np.testing.assert_allclose(g.A, out.grad.A, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(g.V, out.grad.V, rtol=1e-12, atol=1e-14)


def test_tracers_started_at_the_reference_heads_follow_them():
    # a tracer at a reference head has that head's velocity at every step: same trajectory
    mu, xi, targets = _data()
    ref0 = tasks.generic_init(L, M, D, key=jax.random.key(6))
    extra = tasks.generic_init(L, 3, D, key=jax.random.key(7))
    tracers0 = mft.Heads(
        jnp.concatenate([ref0.A[:, :2], extra.A], 1), jnp.concatenate([ref0.V[:, :2], extra.V], 1)
    )
    out = tracers.train_tracers(ref0, tracers0, mu, xi, targets, eta=0.05, steps=15)
    one = gradflow.train(ref0, mu, xi, targets, eta=0.05, steps=15)
    np.testing.assert_allclose(out.reference.R, one.R, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(out.tracers.A[:, :2], one.theta.A[:, :2], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(out.tracers.V[:, :2], one.theta.V[:, :2], rtol=1e-12, atol=1e-14)
    assert not np.allclose(out.tracers.A[:, 2:], extra.A)  # the others moved too


def test_tracers_of_another_depth_are_refused():
    mu, xi, targets = _data()
    ref0 = tasks.generic_init(L, M, D, key=jax.random.key(6))
    other = tasks.generic_init(L + 1, M, D, key=jax.random.key(7))
    with pytest.raises(mft.ParameterError, match=r"train_tracers: tracers of shape"):
        tracers.train_tracers(ref0, other, mu, xi, targets, eta=0.05, steps=5)

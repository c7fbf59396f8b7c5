"""ensembles.train_seeds: runs over seeds as one vmapped program equal the runs one by one."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import mftransformer as mft
from mftransformer.solver import ensembles, gradflow, tasks

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


def test_a_diverging_run_is_named():
    mu, xi, targets = _data()
    with pytest.raises(mft.SolveFailed, match=r"train_seeds: run \d became non-finite at step"):
        ensembles.train_seeds(_seeds(2), mu, xi, targets, eta=1e6, steps=20)

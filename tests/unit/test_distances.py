"""Wasserstein distances between particle sets against closed forms."""

import jax
import numpy as np
import pytest

from mftransformer.solver.diagnostics import sync_distance
from mftransformer.solver.distances import w2_equal_mass, w_cot, w_cot_layers, wasserstein
from mftransformer.solver.errors import ParameterError
from mftransformer.solver.heads import Heads


def test_w2_in_one_dimension_is_the_sorted_coupling():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=40), rng.normal(1.0, 2.0, size=40)
    exact = np.sqrt(np.mean((np.sort(x) - np.sort(y)) ** 2))
    assert abs(w2_equal_mass(x, y) - exact) < 1e-14
    w = np.full(40, 1 / 40)
    assert abs(wasserstein(x, w, y, w, p=2) - exact) < 1e-9
    w1 = np.mean(np.abs(np.sort(x) - np.sort(y)))
    assert abs(wasserstein(x, w, y, w, p=1) - w1) < 1e-9


def test_weighted_transport_of_a_dirac_and_a_translation():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(7, 2))
    a = rng.dirichlet(np.ones(7))
    b = np.array([0.3, -0.2])
    # a translation moves every atom by |b|: W_p = |b| for p = 1, 2
    for p in (1, 2):
        assert abs(wasserstein(x, a, x + b, a, p=p) - np.linalg.norm(b)) < 1e-9
    # everything onto one point: W_2^2 = sum_k a_k |x_k|^2
    W2 = wasserstein(x, a, np.zeros((1, 2)), np.ones(1), p=2)
    assert abs(W2**2 - a @ np.sum(x**2, axis=1)) < 1e-9


def test_w_cot_is_label_free_and_below_the_synchronous_distance():
    k1, k2 = jax.random.split(jax.random.key(0))
    theta = Heads(jax.random.normal(k1, (3, 6, 2, 2)), jax.random.normal(k2, (3, 6, 2, 2)))
    perm = np.random.default_rng(2).permutation(6)
    shuffled = Heads(theta.A[:, perm], theta.V[:, perm])
    assert w_cot(theta, shuffled) < 1e-12 < float(sync_distance(theta, shuffled))
    other = Heads(theta.A + 0.1, theta.V)
    assert w_cot(theta, other) <= float(sync_distance(theta, other)) + 1e-12
    assert w_cot_layers(theta, other).shape == (3,)


def test_bad_input_names_the_parameter():
    with pytest.raises(ParameterError, match="equal shapes"):
        w2_equal_mass(np.zeros((3, 2)), np.zeros((4, 2)))
    with pytest.raises(ParameterError, match="p = 3"):
        wasserstein(np.zeros(2), np.full(2, 0.5), np.zeros(2), np.full(2, 0.5), p=3)
    with pytest.raises(ParameterError, match="summing to 1"):
        wasserstein(np.zeros(2), np.ones(2), np.zeros(2), np.full(2, 0.5))

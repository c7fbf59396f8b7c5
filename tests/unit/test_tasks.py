"""tasks: small-loss labels and the teacher-student family (chapter 5), error messages."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import mftransformer as mft
from mftransformer import tasks
from mftransformer.solver.errors import ParameterError

N, L, M, d = 3, 2, 8, 2


@pytest.fixture(scope="module")
def data():
    mu = mft.sample_cloud(jax.random.key(0), N, 4, d, 0.8)
    xi = jnp.tile(jnp.array([1.0, 0.5]), (N, 1))
    W = jnp.array([[1.0, -0.5]])
    return mu, xi, W


def test_readout_at_silent_point_is_w_xi(data):
    mu, xi, W = data
    theta = tasks.silent_init(L, M, d, key=jax.random.key(1))
    Y = tasks.readout(theta, mu, xi, W)
    assert Y.shape == (N, 1)
    np.testing.assert_allclose(Y, xi @ W.T, atol=1e-14)


@pytest.mark.parametrize("eps", [0.0, 1e-3, 0.1])
def test_small_loss_targets_dial_the_initial_loss(data, eps):
    mu, xi, W = data
    theta = tasks.silent_init(L, M, d, key=jax.random.key(1))
    zeta = jnp.arange(1.0, N + 1)[:, None]
    targets = tasks.small_loss_targets(theta, mu, xi, W, eps=eps, zeta=zeta)
    R0 = float(mft.adjoint.risk(theta, mu, xi, targets))
    expected = eps**2 * float(jnp.sum(zeta**2)) / (2 * N)
    assert abs(R0 - expected) <= 1e-14 + 1e-12 * expected, f"R0 = {R0}, expected {expected}"


def test_small_loss_targets_deterministic_from_key(data):
    mu, xi, W = data
    theta = tasks.silent_init(L, M, d, key=jax.random.key(1))
    a = tasks.small_loss_targets(theta, mu, xi, W, eps=0.1, key=jax.random.key(2))
    b = tasks.small_loss_targets(theta, mu, xi, W, eps=0.1, key=jax.random.key(2))
    c = tasks.small_loss_targets(theta, mu, xi, W, eps=0.1, key=jax.random.key(3))
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(a.y, c.y)


def test_small_loss_targets_errors(data):
    mu, xi, W = data
    theta = tasks.silent_init(L, M, d, key=jax.random.key(1))
    with pytest.raises(ParameterError, match="eps = -0.1; allowed a finite float >= 0"):
        tasks.small_loss_targets(theta, mu, xi, W, eps=-0.1, key=jax.random.key(0))
    with pytest.raises(ParameterError, match="give exactly one of key"):
        tasks.small_loss_targets(theta, mu, xi, W, eps=0.1)
    with pytest.raises(ParameterError, match="give exactly one of key"):
        tasks.small_loss_targets(
            theta, mu, xi, W, eps=0.1, key=jax.random.key(0), zeta=jnp.ones((N, 1))
        )
    with pytest.raises(ParameterError, match=r"zeta has shape \(2, 1\); allowed \(3, 1\)"):
        tasks.small_loss_targets(theta, mu, xi, W, eps=0.1, zeta=jnp.ones((2, 1)))
    with pytest.raises(ParameterError, match=r"readout: W has shape \(1, 3\); allowed"):
        tasks.readout(theta, mu, xi, jnp.ones((1, 3)))


def test_teacher_student_zero_delta_is_the_teacher(data):
    mu, xi, W = data
    ts = tasks.teacher_student(mu, xi, W, L=L, M=M, key=jax.random.key(4), delta=0.0, tokens=True)
    assert ts.teacher.A.shape == (L, 4, d, d) and ts.theta0.A.shape == (L, M, d, d)
    R0 = float(mft.adjoint.risk(ts.theta0, mu, xi, ts.targets))
    assert R0 < 1e-28, f"student = teacher should have zero loss, got {R0}"


def test_teacher_student_loss_grows_like_delta_squared(data):
    mu, xi, W = data
    R = [
        float(mft.adjoint.risk(ts.theta0, mu, xi, ts.targets))
        for ts in (
            tasks.teacher_student(mu, xi, W, L=L, M=M, key=jax.random.key(4), delta=dl)
            for dl in (1e-3, 1e-2)
        )
    ]
    ratio = R[1] / R[0]
    assert 80 < ratio < 120, f"R(1e-2)/R(1e-3) = {ratio}, expected ~100 (R0 = O(delta^2))"


def test_teacher_student_errors(data):
    mu, xi, W = data
    with pytest.raises(ParameterError, match="M = 6; allowed a multiple of M_star = 4"):
        tasks.teacher_student(mu, xi, W, L=L, M=6, key=jax.random.key(0), delta=0.1)
    with pytest.raises(ParameterError, match="delta = -1.0; allowed a finite float >= 0"):
        tasks.teacher_student(mu, xi, W, L=L, M=M, key=jax.random.key(0), delta=-1.0)
    with pytest.raises(ParameterError, match="teacher_student: M_star = 0; allowed integer >= 1"):
        tasks.teacher_student(mu, xi, W, L=L, M=M, key=jax.random.key(0), delta=0.1, M_star=0)
    with pytest.raises(ParameterError, match=r"teacher_student: W has shape \(1, 3\)"):
        tasks.teacher_student(mu, xi, jnp.ones((1, 3)), L=L, M=M, key=jax.random.key(0), delta=0.1)

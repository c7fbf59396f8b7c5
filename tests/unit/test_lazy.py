"""lazy.py: the linearised theory of training from the NTK (MATH.md §6), and its errors."""

import numpy as np
import pytest
from tolerances import LAZY_PREDICTION_RTOL

from mftransformer.solver import lazy, ntk
from mftransformer.solver.errors import ParameterError


def test_lazy_prediction_matches_the_linear_iteration():
    rng = np.random.default_rng(0)
    B = rng.standard_normal((4, 4))
    K, r0, N, eta = B @ B.T + 0.1 * np.eye(4), rng.standard_normal(4), 4, 0.1
    r, R = r0.copy(), []
    for _ in range(50):
        R.append(r @ r / (2 * N))
        r = r - eta * K @ r / N
    pred = lazy.lazy_prediction(K, r0, eta * np.arange(50), eta=eta, N=N)
    np.testing.assert_allclose(pred, R, rtol=LAZY_PREDICTION_RTOL)
    flow = lazy.lazy_prediction(K, r0, np.array([0.0, 1.0]), eta=None, N=N)
    assert flow[0] == pytest.approx(r0 @ r0 / (2 * N), rel=1e-14)
    lam, U = np.linalg.eigh(K)
    expected = np.sum(np.exp(-2 * lam / N) * (U.T @ r0) ** 2) / (2 * N)
    assert flow[1] == pytest.approx(expected, rel=1e-13)


def test_lazy_prediction_of_a_singular_kernel_keeps_the_null_part():
    K = np.array([[4.0, -2.0], [-2.0, 1.0]])  # null vector (1, 2)/sqrt(5)
    r0 = np.array([1.0, 2.0])
    late = lazy.lazy_prediction(K, r0, np.array([1e6]), eta=0.1, N=2)
    assert late[0] == pytest.approx(lazy.plateau(K, r0, N=2)[0], rel=1e-12)


def test_gd_rate_tends_to_the_flow_rate():
    lam, N = 0.3, 4
    rates = [float(lazy.gd_rate(lam, eta=eta, N=N)) for eta in (0.1, 0.01, 0.001)]
    errors = np.abs(np.array(rates) - 2 * lam / N)
    assert np.all(np.diff(np.log10(errors)) < -0.9), f"O(eta) approach expected: {errors}"
    both = lazy.gd_rate(np.array([0.1, 0.3]), eta=0.1, N=N)
    assert both.shape == (2,) and both[1] == pytest.approx(rates[0], rel=1e-15)


def test_plateau_bb_is_eps_squared_over_20():
    eps = 1e-2
    R_inf, c = lazy.plateau(np.eye(2), -eps * np.ones(2), N=2, null=(-2, 1))
    assert R_inf == pytest.approx(eps**2 / 20, rel=1e-14)
    assert np.linalg.norm(c) == pytest.approx(1.0)
    K = np.array([[4.0, -2.0], [-2.0, 1.0]])
    R_k, c_k = lazy.plateau(K, np.array([1.0, 2.0]), N=2)
    assert R_k == pytest.approx(5 / 4, rel=1e-12)
    assert abs(c_k @ np.array([1.0, 2.0])) == pytest.approx(np.sqrt(5), rel=1e-12)


def test_ntk_re_exports_the_lazy_theory():
    assert ntk.gd_rate is lazy.gd_rate
    assert ntk.lazy_prediction is lazy.lazy_prediction
    assert ntk.plateau is lazy.plateau


def test_lazy_errors():
    with pytest.raises(ParameterError, match="gd_rate: eta \\* lambda / N = 1.5; allowed < 1"):
        lazy.gd_rate(3.0, eta=2.0, N=4)
    with pytest.raises(ParameterError, match=r"lazy_prediction: K has shape \(3, 3\)"):
        lazy.lazy_prediction(np.eye(3), np.ones(2), np.zeros(1), eta=0.1, N=2)
    with pytest.raises(ParameterError, match="plateau: null = \\(1, 2, 3\\); allowed a nonzero"):
        lazy.plateau(np.eye(2), np.ones(2), N=2, null=(1, 2, 3))
    with pytest.raises(ParameterError, match="plateau: null = \\(0, 0\\); allowed a nonzero"):
        lazy.plateau(np.eye(2), np.ones(2), N=2, null=(0, 0))

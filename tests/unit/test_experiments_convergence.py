"""Chapter 5 experiments at small size: lazy theory helpers, each experiment's checks, errors."""

import jax
import numpy as np
import pytest
from tolerances import LAZY_PREDICTION_RTOL

import mftransformer as mft
from mftransformer.experiments import convergence as chapter
from mftransformer.solver.errors import ParameterError

KEY = jax.random.key(0)


def ci(section, **overrides):
    """A ``ci`` section of the chapter, with ``overrides`` (validated by its schema)."""
    return getattr(mft.params.load("convergence", "ci", {section: overrides}), section)


def test_lazy_prediction_matches_the_linear_iteration():
    rng = np.random.default_rng(0)
    B = rng.standard_normal((4, 4))
    K, r0, N, eta = B @ B.T + 0.1 * np.eye(4), rng.standard_normal(4), 4, 0.1
    r, R = r0.copy(), []
    for _ in range(50):
        R.append(r @ r / (2 * N))
        r = r - eta * K @ r / N
    pred = chapter.lazy_prediction(K, r0, eta * np.arange(50), eta=eta, N=N)
    np.testing.assert_allclose(pred, R, rtol=LAZY_PREDICTION_RTOL)
    flow = chapter.lazy_prediction(K, r0, np.array([0.0, 1.0]), eta=None, N=N)
    assert flow[0] == pytest.approx(r0 @ r0 / (2 * N), rel=1e-14)


def test_gd_rate_tends_to_the_flow_rate():
    lam, N = 0.3, 4
    rates = [float(chapter.gd_rate(lam, eta=eta, N=N)) for eta in (0.1, 0.01, 0.001)]
    errors = np.abs(np.array(rates) - 2 * lam / N)
    assert np.all(np.diff(np.log10(errors)) < -0.9), f"O(eta) approach expected: {errors}"


def test_plateau_bb_is_eps_squared_over_20():
    eps = 1e-2
    R_inf, c = chapter.plateau(np.eye(2), -eps * np.ones(2), N=2, null=(-2, 1))
    assert R_inf == pytest.approx(eps**2 / 20, rel=1e-14)
    assert np.linalg.norm(c) == pytest.approx(1.0)
    K = np.array([[4.0, -2.0], [-2.0, 1.0]])  # null vector (1, 2)/sqrt(5)
    R_k, c_k = chapter.plateau(K, np.array([1.0, 2.0]), N=2)
    assert R_k == pytest.approx(5 / 4, rel=1e-12)


def test_theory_helper_errors():
    with pytest.raises(ParameterError, match="gd_rate: eta \\* lambda / N = 1.5; allowed < 1"):
        chapter.gd_rate(3.0, eta=2.0, N=4)
    with pytest.raises(ParameterError, match=r"lazy_prediction: K has shape \(3, 3\)"):
        chapter.lazy_prediction(np.eye(3), np.ones(2), np.zeros(1), eta=0.1, N=2)
    with pytest.raises(ParameterError, match="plateau: null = \\(1, 2, 3\\); allowed a nonzero"):
        chapter.plateau(np.eye(2), np.ones(2), N=2, null=(1, 2, 3))


def _injective(**kw):
    return ci("injective", **{"L": 2, "M": 16, "snapshots": 4, **kw})


@pytest.fixture(scope="module")
def injective_result():
    return chapter.injective(_injective(), key=KEY)


@pytest.mark.parametrize(
    "name",
    [
        "ntk_injective",
        "rate",
        "lazy_fit",
        "guaranteed_rate",
        "pl_along_run",
        "ntk_along_run",
        "distance_bound",
        "floor_reached",
    ],
)
def test_injective_checks(injective_result, name):
    check = injective_result.check[name]
    assert check.passed, str(check)


def test_injective_is_deterministic(injective_result):
    again = chapter.injective(_injective(), key=KEY)
    np.testing.assert_array_equal(again.data["R"], injective_result.data["R"])


def _stall(**kw):
    return ci("stall", **{"L": 2, "M": 16, "steps": 600, "snapshots": 4, **kw})


@pytest.fixture(scope="module")
def stall_result():
    return chapter.stall(_stall(), key=KEY)


@pytest.mark.parametrize(
    "name", ["ntk_singular", "stall_plateau", "stall_direction", "stall_erosion"]
)
def test_stall_checks(stall_result, name):
    check = stall_result.check[name]
    assert check.passed, str(check)


def test_sweep_checks():
    p = ci("sweep", L=2, M=16, eps=(0.001, 0.01, 1.0), steps=1000, snapshots=4)
    result = chapter.sweep(p, key=KEY)
    assert result.check.passed, str(result.check)
    assert result.R0[1] / result.R0[0] == pytest.approx(100.0)


@pytest.mark.slow
def test_width_depth_checks():
    p = ci("width_depth", Ms=(16, 64), Ls=(4,), seeds=3, steps=200, nodes=40)
    result = chapter.width_depth(p, key=KEY)
    assert result.check["rate_tracks_ntk"].passed, str(result.check)
    assert result.fitted.shape == (3, 3)


def test_experiment_errors():
    with pytest.raises(ParameterError, match="snapshots = 3; allowed a divisor of steps = 1000"):
        chapter.injective(_injective(snapshots=3), key=KEY)
    with pytest.raises(ParameterError, match="xi0 has 3 and W has 2 entries; allowed d = 2"):
        chapter.injective(_injective(xi0=(1.0, 0.5, 0.0)), key=KEY)
    p = ci("sweep", L=2, M=16, eps=(0.01, 0.001), steps=10, snapshots=1)
    with pytest.raises(ParameterError, match=r"sweep: eps = \[0.01, 0.001\]; allowed at least"):
        chapter.sweep(p, key=KEY)


def test_plots_draw(injective_result, stall_result):
    for fig in (chapter.plot_injective(injective_result), chapter.plot_stall(stall_result)):
        assert len(fig.axes) == 2

"""Chapter 5 experiments at small size: each experiment's checks and errors (the lazy theory
itself is tested with the solver, tests/unit/test_lazy.py)."""

import jax
import numpy as np
import pytest

import mftransformer as mft
from mftransformer.experiments import convergence as chapter
from mftransformer.experiments.convergence import setting
from mftransformer.solver import gradflow
from mftransformer.solver.errors import ParameterError

KEY = jax.random.key(0)


def ci(section, **overrides):
    """A ``ci`` section of the chapter, with ``overrides`` (validated by its schema)."""
    return getattr(mft.params.load("convergence", "ci", {section: overrides}), section)


def _injective(**kw):
    return ci("injective", **{"L": 2, "M": 16, "keys": 5, "snapshots": 4, **kw})


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
    ],
)
def test_injective_checks(injective_result, name):
    check = injective_result.check[name]
    assert check.passed, str(check)
    assert len(check.keys) == 5 and "median of 5 keys" in str(check)


def test_injective_is_deterministic(injective_result):
    again = chapter.injective(_injective(), key=KEY)
    np.testing.assert_array_equal(again.data["R"], injective_result.data["R"])


def test_injective_keys_are_independent_draws(injective_result):
    v = injective_result.values
    assert len(set(np.round(v["lam0"], 12))) == 5, "each key draws its own data and heads"
    # W_COT never exceeds the synchronous distance, which never exceeds the path length
    assert np.all(v["w_cot"] <= v["distance"] * (1 + 1e-12))
    assert np.all(v["distance"] <= v["path"] * (1 + 1e-12))
    np.testing.assert_allclose(
        v["threshold"], v["lam0"] ** 3 / (16 * 4 * v["lip_hat"] ** 2), rtol=1e-12
    )


def test_train_batch_equals_each_run_alone():
    p = _injective()
    runs = [setting.task(p, k, p.eps) for k in setting.repetition_keys(KEY, 2)]
    hist = setting.train_batch(
        setting.stack([r[3] for r in runs]),
        setting.stack([r[0] for r in runs]),
        runs[0][1],
        setting.stack([r[4] for r in runs]),
        eta=0.5,
        steps=20,
        every=10,
        where="test",
    )
    for s, (mu, xi, _, theta0, targets) in enumerate(runs):
        alone = gradflow.train(theta0, mu, xi, targets, eta=0.5, steps=20, snapshot_every=10)
        np.testing.assert_allclose(np.asarray(hist.R[s]), np.asarray(alone.R), rtol=1e-12)


def test_a_key_without_fit_window_fails_the_rate_check():
    r = chapter.injective(_injective(steps=40, snapshots=1), key=KEY)
    assert not r.check["rate"].passed
    assert "no value on" in str(r.check["rate"])


def test_indicative_threshold_and_lip_hat():
    lam_t, D = np.array([0.5, 0.49, 0.47]), np.array([0.0, 0.1, 0.2])
    assert setting.lip_hat(lam_t, 0.5, D) == pytest.approx(0.15)
    assert setting.indicative_threshold(0.5, 0.15, 4) == pytest.approx(0.125 / (64 * 0.0225))
    assert setting.indicative_threshold(0.5, 0.0, 4) == float("inf")


def _stall(**kw):
    return ci("stall", **{"L": 2, "M": 16, "keys": 5, "steps": 600, "snapshots": 4, **kw})


@pytest.fixture(scope="module")
def stall_result():
    return chapter.stall(_stall(), key=KEY)


@pytest.mark.parametrize(
    "name", ["ntk_singular", "stall_plateau", "stall_direction", "stall_erosion"]
)
def test_stall_checks(stall_result, name):
    check = stall_result.check[name]
    assert check.passed, str(check)


@pytest.fixture(scope="module")
def sweep_result():
    p = ci("sweep", L=2, M=16, keys=5, eps=(0.001, 0.003, 0.01, 1.0), steps=200, snapshots=4)
    return chapter.sweep(p, key=KEY)


def test_sweep_checks(sweep_result):
    assert sweep_result.check.passed, str(sweep_result.check)
    assert sweep_result.R0.shape == (5, 4)
    np.testing.assert_allclose(sweep_result.R0[:, 2] / sweep_result.R0[:, 0], 100.0, rtol=1e-12)
    # each run's own threshold, never a pooled one
    assert np.unique(np.round(sweep_result.threshold, 12)).size > 5


@pytest.mark.slow
def test_width_depth_checks():
    p = ci("width_depth", Ms=(16, 64), Ls=(4,), seeds=3, steps=200, nodes=40)
    result = chapter.width_depth(p, key=KEY)
    assert result.check["rate_tracks_ntk"].passed, str(result.check)
    assert result.fitted.shape == (3, 3)


def test_parameter_rules_are_refused_before_anything_runs():
    with pytest.raises(ParameterError, match="snapshots = 3; allowed a divisor of steps = 2000"):
        _injective(snapshots=3)
    with pytest.raises(ParameterError, match="xi0 has 3 and W has 2 entries; allowed d = 2"):
        _injective(xi0=(1.0, 0.5, 0.0))
    with pytest.raises(ParameterError, match=r"sweep\]: eps = \[0.01, 0.001\]; allowed at least"):
        ci("sweep", L=2, M=16, eps=(0.01, 0.001), steps=10, snapshots=1)
    with pytest.raises(ParameterError, match="eps_lazy = 0.001; allowed a value with at least two"):
        ci("sweep", eps_lazy=0.001)
    with pytest.raises(ParameterError, match="keys"):
        _injective(keys=4)


def test_plots_draw(injective_result, stall_result, sweep_result):
    figures = (
        chapter.plot_injective(injective_result),
        chapter.plot_stall(stall_result),
        chapter.plot_sweep(sweep_result),
        chapter.plot_threshold(sweep_result),
    )
    for fig in figures:
        assert len(fig.axes) == 2

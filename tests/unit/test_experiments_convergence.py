"""Chapter 5 experiments at small size: each experiment's checks and errors (the lazy theory
itself is tested with the solver, tests/unit/test_lazy.py)."""

import jax
import numpy as np
import pytest

import mftransformer as mft
from mftransformer.experiments import convergence as chapter
from mftransformer.solver.errors import ParameterError

KEY = jax.random.key(0)


def ci(section, **overrides):
    """A ``ci`` section of the chapter, with ``overrides`` (validated by its schema)."""
    return getattr(mft.params.load("convergence", "ci", {section: overrides}), section)


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


def test_parameter_rules_are_refused_before_anything_runs():
    with pytest.raises(ParameterError, match="snapshots = 3; allowed a divisor of steps = 1000"):
        _injective(snapshots=3)
    with pytest.raises(ParameterError, match="xi0 has 3 and W has 2 entries; allowed d = 2"):
        _injective(xi0=(1.0, 0.5, 0.0))
    with pytest.raises(ParameterError, match=r"sweep\]: eps = \[0.01, 0.001\]; allowed at least"):
        ci("sweep", L=2, M=16, eps=(0.01, 0.001), steps=10, snapshots=1)


def test_plots_draw(injective_result, stall_result):
    for fig in (chapter.plot_injective(injective_result), chapter.plot_stall(stall_result)):
        assert len(fig.axes) == 2

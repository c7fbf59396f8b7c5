"""Unit tests of experiments/_check.py: check lines, require(), log-log fits, the decorator."""

import numpy as np
import pytest

from mftransformer.experiments import Check, Checks, Result, experiment, fit_loglog
from mftransformer.solver.errors import CheckFailed


def test_within_line_and_rounding():
    c = Check.within("depth_slope_euler", -1.0412, -1.0, 0.1)
    assert str(c) == "depth_slope_euler = -1.04 (expected -1.00 ± 0.1): PASS"
    assert c.require() is None  # a notebook cell ending with it shows only the line
    bad = Check.within("depth_slope_euler", -1.2, -1.0, 0.1)
    assert str(bad).endswith("FAIL") and not bad.passed
    with pytest.raises(CheckFailed, match=r"depth_slope_euler = -1.20 .*measured -1.2"):
        bad.require()


def test_within_relative():
    c = Check.within("x", 1.05, 1.0, 0.1, relative=True)
    assert c.passed and "± 10 %" in str(c)


def test_between_below_above():
    assert str(Check.between("width_iid_vs_L", 0.4581, 0.35, 0.70)) == (
        "width_iid_vs_L = 0.458 (expected in [0.350, 0.700]): PASS"
    )
    # near machine precision the bound is printed as written by hand (STYLE.md §8)
    assert (
        str(Check.below("adjoint_vs_autodiff", 3e-15, 1e-12)) == "adjoint_vs_autodiff < 1e-12: PASS"
    )
    assert str(Check.below("x", 3e-6, 5e-5)) == "x < 5e-5: PASS"
    assert (
        str(Check.below("s", 0.0066, 0.01, show_value=True)) == "s = 0.0066 (expected < 0.01): PASS"
    )
    assert not Check.below("s", 0.02, 0.01).passed
    assert str(Check.above("diffeo", 0.967, 0.0)) == "diffeo = 0.97 (expected > 0): PASS"
    assert not Check.above("diffeo", -0.1, 0.0).passed


def test_negative_zero_is_printed_as_zero():
    assert str(Check.within("x", -0.0001, 0.0, 0.1)).startswith("x = 0.00 ")


def test_checks_collection():
    a, b = Check.within("a", 1.0, 1.0, 0.1), Check.above("b", -1.0, 0.0)
    cs = Checks((a, b))
    assert str(cs) == f"{a}\n{b}" and cs["a"] is a and list(cs) == [a, b] and not cs.passed
    with pytest.raises(CheckFailed, match="b = -1"):
        cs.require()
    with pytest.raises(KeyError):
        _ = cs["c"]
    assert [d["name"] for d in cs.as_dict()] == ["a", "b"]


def test_fit_loglog_recovers_a_power_law():
    x = np.array([4.0, 8, 16, 32, 64])
    fit = fit_loglog(x, 3.0 * x**-1.5)
    assert abs(fit.slope + 1.5) < 1e-12 and abs(np.exp(fit.intercept) - 3.0) < 1e-10
    np.testing.assert_allclose(fit(x), 3.0 * x**-1.5, rtol=1e-12)


def test_fit_loglog_rejects_bad_input():
    with pytest.raises(ValueError, match="need >= 2 positive points"):
        fit_loglog([1.0], [1.0])
    with pytest.raises(ValueError, match="need >= 2 positive points"):
        fit_loglog([1.0, 2.0], [1.0, 0.0])


def test_experiment_decorator_records_time_and_source():
    @experiment
    def exp(p, *, key):
        return Result(values={"v": 1}, data={"x": np.ones(2)}, check=Check.above("c", 1.0, 0.0))

    r = exp(None, key=None)
    assert r.wall_s >= 0 and r.source.endswith("exp") and r.v == 1
    with pytest.raises(AttributeError, match="result has no value 'w'; values: v"):
        _ = r.w

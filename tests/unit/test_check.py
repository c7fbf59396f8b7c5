"""Unit tests of experiments/checks.py: check lines, require(), log-log fits, typed results, the
decorator, and every row of the chapters' claims tables (parametrised)."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest

import mftransformer as mft
from mftransformer.experiments import (
    CHAPTERS,
    Check,
    Checks,
    Claim,
    Result,
    claims,
    experiment,
    fit_loglog,
    forward,
    result_type,
)
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
    @result_type
    class ToyResult(Result):
        v: int

    @experiment
    def exp(p, *, key):
        return ToyResult(v=1, data={"x": np.ones(2)}, check=Check.above("c", 1.0, 0.0))

    r = exp(None, key=None)
    assert r.wall_s >= 0 and r.source.endswith("exp") and r.v == 1
    assert r.values == {"v": 1}  # the experiment's own fields, not data/check/wall_s/source
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.v = 2
    with pytest.raises(AttributeError, match="w"):
        _ = r.w
    with pytest.raises(TypeError):
        ToyResult(1, {}, None)  # keyword-only


# ---------------------------------------------------------------- the chapters' claims tables
ROWS = [(chapter, claim) for chapter in CHAPTERS for claim in claims(chapter)]
ROOT = Path(__file__).resolve().parents[2]


def _id(row):
    return f"{row[0]}:{row[1].name}" if isinstance(row, tuple) else str(row)


@pytest.mark.parametrize("row", ROWS, ids=_id)
def test_claim_row_is_complete(row):
    chapter, claim = row
    assert claim.doc and claim.reason and claim.section, claim
    assert callable(getattr(CHAPTERS[chapter], claim.experiment)), claim.experiment
    if claim.rule == "between":
        low, high = claim.band
        assert low < high, claim
    elif claim.rule == "within":
        assert claim.band >= 0, claim
    elif claim.rule == "custom":
        assert claim.expected, claim


@pytest.mark.parametrize("row", ROWS, ids=_id)
def test_claim_section_is_a_heading_of_its_page(row):
    chapter, claim = row
    page = (ROOT / "notebooks" / f"{mft.params.CHAPTERS[chapter]}.md").read_text()
    assert f"\n## {claim.section}\n" in page, f"{chapter}: no section '{claim.section}'"


@pytest.mark.parametrize("row", ROWS, ids=_id)
def test_claim_check_passes_inside_and_fails_outside(row):
    _, claim = row
    if claim.rule == "custom":
        with pytest.raises(ValueError, match="checked by its experiment"):
            claim.check(0.0)
        return
    if claim.rule == "within":
        target = 1.0 if claim.target is None else claim.target
        width = claim.band * abs(target) if claim.relative else claim.band
        inside, outside = target + width / 2, target + 2 * width + 1
        assert claim.check(inside, target=target).passed
        assert not claim.check(outside, target=target).passed
        return
    if claim.rule == "between":
        low, high = claim.band
        inside, outside = (low + high) / 2, high + (high - low)
    else:
        step = max(abs(claim.band), 1e-30)
        inside = claim.band - step if claim.rule == "below" else claim.band + step
        outside = claim.band + step if claim.rule == "below" else claim.band - step
    check = claim.check(inside)
    assert check.passed and check.name == claim.name, str(check)
    assert not claim.check(outside).passed


def test_claims_tables_by_chapter():
    assert list(CHAPTERS) == list(mft.params.CHAPTERS)
    table = claims("forward")
    assert table is forward.CLAIMS and table["depth_slope_euler"].band == 0.1
    assert [c.name for c in table.of("depth")] == [
        "depth_slope_euler",
        "depth_slope_heun",
        "depth_slope_rk4",
    ]
    row = table["width_iid_vs_L"].as_dict()
    assert row["band"] == [0.35, 0.7] and row["rule"] == "between"
    with pytest.raises(KeyError, match="no claim 'nope'"):
        _ = table["nope"]
    with pytest.raises(KeyError, match="no chapter 'nope'"):
        claims("nope")


def test_claim_lines_match_the_hand_built_checks():
    # the claims build exactly the lines the experiments printed before they existed
    euler = forward.CLAIMS["depth_slope_euler"].check(-1.0412)
    assert str(euler) == str(Check.within("depth_slope_euler", -1.0412, -1.0, 0.1))
    rk4 = forward.CLAIMS["depth_slope_rk4"].check(-4.3)
    assert str(rk4) == str(Check.below("depth_slope_rk4", -4.3, -3.8, show_value=True))


def test_check_keys_passes_on_the_median_with_every_key_in_its_band():
    claim = Claim("slope", "e", "S", "doc", "within", target=-0.5, band=0.1, key_band=0.2)
    good = claim.check_keys([-0.51, -0.56, -0.47, -0.50, -0.49])
    assert good.passed and good.measured == -0.50 and len(good.keys) == 5
    assert "median of 5 keys, range -0.56 … -0.47" in str(good)
    assert "each key -0.50 ± 0.2" in str(good) and good.as_dict()["keys"][1] == -0.56
    # the median passes but one key is outside its band: FAIL
    assert not claim.check_keys([-0.51, -0.76, -0.47, -0.50, -0.49]).passed
    # every key inside the key band but the median outside the band: FAIL
    assert not claim.check_keys([-0.33, -0.35, -0.36, -0.34, -0.6]).passed
    # no key band: every key must pass the band itself
    strict = Claim("r", "e", "S", "doc", "below", band=0.01, show_value=True)
    assert strict.check_keys([0.002, 0.004, 0.009]).passed
    assert not strict.check_keys([0.002, 0.004, 0.011]).passed
    with pytest.raises(ValueError, match="finite"):
        strict.check_keys([0.1, float("nan")])

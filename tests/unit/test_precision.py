"""Precision is explicit (issue 18): importing changes nothing, float64 input without float64
warns once naming ``mft.configure()``, chapter experiments refuse to run in float32."""

import dataclasses
import warnings

import jax
import numpy as np
import pytest

import mftransformer as mft
from mftransformer.experiments.checks import experiment
from mftransformer.solver import laws
from mftransformer.solver.validate import PrecisionWarning, reset_precision_warning


@pytest.fixture
def float32():
    mft.configure(x64=False)
    reset_precision_warning()
    yield
    mft.configure()
    reset_precision_warning()


def test_float64_numpy_input_warns_once(float32):
    x = np.zeros((3, 2))
    with pytest.warns(PrecisionWarning, match=r"empirical: float64 input .* mft\.configure\(\)"):
        mu = mft.empirical(x)
    assert mu.x.dtype == np.float32
    with warnings.catch_warnings():
        warnings.simplefilter("error", PrecisionWarning)
        mft.empirical(x)  # once per session
        laws.Gaussian(np.zeros(2), np.eye(2))


@pytest.mark.parametrize(
    "call",
    [
        lambda: laws.Gaussian(np.zeros(2), np.eye(2)),
        lambda: mft.EmpiricalMeasure(np.zeros((1, 2, 2)), np.full((1, 2), 0.5)),
        lambda: mft.sample_gaussian(jax.random.key(0), 1, 2, 2, mean=np.zeros(2)),
        lambda: mft.families.dirac(np.array([0.5, 0.1])),
    ],
)
def test_every_entry_warns_on_float64_input(float32, call):
    with pytest.warns(PrecisionWarning, match=r"mft\.configure\(\)"):
        call()


def test_the_warning_points_at_the_callers_line(float32):
    with pytest.warns(PrecisionWarning) as record:
        mft.empirical(np.zeros((2, 2)))
    assert record[0].filename == __file__


def test_no_warning_for_float32_input_or_lists(float32):
    with warnings.catch_warnings():
        warnings.simplefilter("error", PrecisionWarning)
        mft.empirical(np.zeros((3, 2), np.float32))
        mft.empirical([[0.0, 1.0]])


def test_no_warning_with_float64_on():
    reset_precision_warning()
    with warnings.catch_warnings():
        warnings.simplefilter("error", PrecisionWarning)
        assert mft.empirical(np.zeros((3, 2))).x.dtype == np.float64


@dataclasses.dataclass(frozen=True)
class _Result:
    value: float
    wall_s: float = 0.0
    source: str = ""


@experiment
def _compares_with_theory(p, *, key):
    return _Result(1.0)


@experiment(float64=False)
def _any_precision(p, *, key):
    return _Result(2.0)


def test_chapter_experiments_refuse_float32(float32, monkeypatch):
    monkeypatch.delenv("MFT_RESULTS_DIR", raising=False)
    with pytest.raises(
        mft.ParameterError,
        match=r"_compares_with_theory: jax_enable_x64 = False; allowed True .*call "
        r"mft\.configure\(\) first",
    ):
        _compares_with_theory(None, key=None)
    assert _any_precision(None, key=None).value == 2.0


def test_chapter_experiments_run_in_float64(monkeypatch):
    monkeypatch.delenv("MFT_RESULTS_DIR", raising=False)
    out = _compares_with_theory(None, key=None)
    assert out.value == 1.0 and out.source.endswith("_compares_with_theory")

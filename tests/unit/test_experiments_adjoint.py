"""One small-size test per chapter-2 check, calling the chapter's experiment functions."""

import jax
import numpy as np
import pytest

import mftransformer as mft
from mftransformer.experiments import adjoint as chapter
from mftransformer.solver.errors import ParameterError


def ci(section, **overrides):
    """A ``ci`` section of the chapter, with ``overrides`` (validated by its schema)."""
    return getattr(mft.params.load("adjoint", "ci", {section: overrides}), section)


def test_field_adjoint_is_the_input_gradient():
    p = ci("field", n=5, L=4, M=2, arrows_at=(0, 4))
    result = chapter.field(p, key=jax.random.key(0))
    assert result.check.passed, str(result.check)
    assert result.data["states"].shape == (5, 5, 2) and result.data["p"].shape == (5, 5, 2)


@pytest.mark.slow
def test_agreement_checks():
    p = ci("agreement", n=5, N=2, L=3, M=2, eps=(0.01, 0.001, 0.0001, 1e-05), directions=2, keys=5)
    result = chapter.agreement(p, key=jax.random.key(1))
    assert result.check.passed, str(result.check)
    assert str(result.check).startswith("adjoint_vs_autodiff < 1e-12: PASS")


def test_interaction_ablations_on_three_tasks():
    p = ci("interaction", n=5, N=2, L=3, M=2, keys=5)
    result = chapter.interaction(p, key=jax.random.key(2))
    errors = result.errors
    assert set(errors) == {(t, a) for t in chapter.TASKS for a in chapter.ABLATIONS}
    assert all(v.shape == (5,) for v in errors.values())
    assert np.all(errors["T", "query_to_token"] == 0.0)  # task T: the query's adjoint is zero
    np.testing.assert_allclose(errors["C", "query_to_token"], errors["C", "both"], rtol=1e-10)
    line = str(result.check)
    assert line.startswith("interaction_needed = ") and "median of 5 keys" in line, line
    assert result.check.passed == (
        np.median(errors["T+C", "both"]) > chapter.CLAIMS["interaction_needed"].band
        and errors["T+C", "both"].min() > chapter.CLAIMS["interaction_needed"].key_band
    )


def test_probe_identity_and_depth_order():
    p = ci("probe", n=4, N=1, M=2, probes=3, L_identity=8, Ls=(8, 16, 32, 64), keys=5)
    result = chapter.probe(p, key=jax.random.key(4))
    assert result.check.passed, str(result.check)
    assert result.first_variation.shape == (5, 4, 3) and result.orders.shape == (5,)


def test_landscape_gradient_is_the_cot_gradient():
    p = ci("landscape", n=4, N=1, L=4, M=2, grid=7, arrows=3)
    result = chapter.landscape(p, key=jax.random.key(5))
    assert result.check.passed, str(result.check)
    assert result.heat.shape == (7, 7) and result.data["arrows"].shape == (9, 2)
    assert result.particles.shape == (2, 2)


def test_reversal_checks():
    p = ci("reversal", n=4, N=1, M=2, Ls=(8, 32), keys=5)
    result = chapter.reversal(p, key=jax.random.key(6))
    assert result.check.passed, str(result.check)
    assert result.errors.shape == (5, 2) and result.residual <= 1e-14


def test_probe_refuses_depths_that_do_not_double():
    with pytest.raises(ParameterError, match="each twice the previous"):
        ci("probe", Ls=(8, 16, 24))


@pytest.mark.slow
def test_memory_checks():
    p = ci("memory", n=4, N=2, M=2, Ls=(4, 16), repeats=1)
    result = chapter.memory(p, key=jax.random.key(3))
    temp, per_layer = result.temp, result.bytes_per_layer
    flat = chapter.CLAIMS["continuous_flat_memory"].band
    assert temp["continuous"][-1] / temp["continuous"][0] < flat, str(temp)
    slack = chapter.CLAIMS["exact_bytes_per_layer"].band
    assert per_layer["exact"] / result.state_bytes < slack, str(per_layer)
    assert per_layer["autodiff"] > per_layer["exact"]


def test_depth_refuses_incommensurate_depths_before_running():
    with pytest.raises(
        ParameterError, match=r"adjoint.depth\]: Ls = \(8, 12\), L_ref = 64.*\[12\]"
    ):
        ci("depth", n=4, N=1, M=2, Ls=(8, 12), L_ref=64)


def test_params_sets_load():
    for params_set in ("ci", "full"):
        cfg = mft.params.load("adjoint", params_set)
        assert cfg.depth.L_ref % cfg.depth.Ls[0] == 0


def test_benchmark_quick_writes_json(tmp_path):
    import importlib.util
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "adjoint.py"
    spec = importlib.util.spec_from_file_location("bench_adjoint", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "adjoint.json"
    bench.main(["--quick", "--out", str(out)])
    report = json.loads(out.read_text())
    assert {r["mode"] for r in report["rows"]} == set(chapter.MODES)
    assert report["summary"]["continuous_flat"] and report["summary"]["exact_stores_states_only"]

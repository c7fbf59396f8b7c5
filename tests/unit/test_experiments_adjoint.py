"""One small-size test per chapter-2 check, calling the chapter's experiment functions."""

import jax
import pytest
from tolerances import FLAT_MEMORY_RATIO, INTERACTION_MIN, STATE_BYTES_SLACK

from mftransformer.experiments import adjoint as chapter
from mftransformer.solver.errors import ParameterError


def test_field_adjoint_is_the_input_gradient():
    p = chapter.FieldParams(n=5, L=4, M=2, scale=0.8, arrows_at=(0, 4))
    result = chapter.field(p, key=jax.random.key(0))
    assert result.check.passed, str(result.check)
    assert result.data["states"].shape == (5, 5, 2) and result.data["p"].shape == (5, 5, 2)


@pytest.mark.slow
def test_agreement_checks():
    p = chapter.AgreementParams(
        d=2, n=5, N=2, L=3, M=2, scale=0.8, eps=(1e-2, 1e-3, 1e-4, 1e-5), directions=2
    )
    result = chapter.agreement(p, key=jax.random.key(1))
    assert result.check.passed, str(result.check)
    assert str(result.check).startswith("adjoint_vs_autodiff < 1e-12: PASS")


def test_interaction_needed():
    p = chapter.InteractionParams(d=2, n=5, N=2, L=3, M=2, scale=0.8, instances=2)
    result = chapter.interaction(p, key=jax.random.key(2))
    assert result.values["error"].min() > INTERACTION_MIN, str(result.check)
    assert result.check.passed


@pytest.mark.slow
def test_memory_checks():
    p = chapter.MemoryParams(d=2, n=4, N=2, M=2, Ls=(4, 16), repeats=1)
    result = chapter.memory(p, key=jax.random.key(3))
    temp = result.values["temp"]
    assert temp["continuous"][-1] / temp["continuous"][0] < FLAT_MEMORY_RATIO, str(temp)
    per_layer = result.values["bytes_per_layer"]["exact"] / result.values["state_bytes"]
    assert per_layer < STATE_BYTES_SLACK, str(result.values["bytes_per_layer"])
    assert result.values["bytes_per_layer"]["autodiff"] > result.values["bytes_per_layer"]["exact"]


def test_depth_rejects_incommensurate_depths():
    p = chapter.DepthParams(d=2, n=4, N=1, M=2, scale=0.8, Ls=(8, 12), L_ref=64)
    with pytest.raises(ParameterError, match=r"adjoint.depth: Ls = \(8, 12\), L_ref = 64.*\[12\]"):
        chapter.depth(p, key=jax.random.key(4))


def test_params_sets_load():
    import mftransformer as mft

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

"""The benchmarks' shared pieces (``benchmarks/_common.py``, ``_models.py``, the layer count of
``machine.py``): what they compute, never how fast (timings are never tested)."""

import json
import sys
from pathlib import Path

import jax
import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import _common as common  # noqa: E402
import _models as models  # noqa: E402


def test_every_benchmark_is_a_script_that_bench_runs():
    names = {p.stem for p in BENCHMARKS.glob("*.py") if not p.name.startswith("_")}
    assert {"adjoint", "forward", "machine", "peers", "scaling"} <= names
    assert not names & {"_common", "_models"}  # helpers, skipped by ``bench``


def test_the_ci_size_is_chapter_2s():
    assert models.SIZES["ci"] == models.ci_size()
    assert models.SIZES["S2"] == {"B": 32, "n": 64, "d": 4, "M": 32, "L": 32}


def test_layer_cost_counts():
    import machine

    B, n, d, M = 2, 3, 4, 5
    points, entries = B * M * (n + 1), B * M * (n + 1) * n
    fwd = machine.layer_cost(B, n, d, M)
    assert fwd == {
        "entries": entries,
        "flops": entries * (4 * d + 5) + points * 4 * d * d,
        "exps": entries,
        "bytes": 2 * 8 * entries,
    }
    grad = machine.layer_cost(B, n, d, M, itemsize=4, gradient=True)
    assert grad["flops"] == entries * (16 * d + 14) + points * 16 * d * d
    assert grad["exps"] == 2 * entries and grad["bytes"] == 7 * 4 * entries
    peaks = {"matmul_flops_per_s": 1e9, "bandwidth_bytes_per_s": 1e12, "exp_per_s": 1e12}
    seconds, by = machine.bound(fwd, peaks)
    assert by == "compute" and seconds == pytest.approx(fwd["flops"] / 1e9)


def test_the_three_implementations_agree():
    """The package, plain JAX and (where installed) PyTorch: the same risk and gradients."""
    size = {"B": 2, "n": 4, "d": 2, "M": 2, "L": 2}
    arrays = models.instance(**size)
    ours = models.mft_grad_arrays(models.mft_programs()["autodiff"](*models.jax_inputs(arrays)))
    plain = models.plain_programs()["gradient"](*models.plain_args(arrays))
    assert models.grad_agreement(models.plain_grad_arrays(plain, 2, 2), ours) < 1e-12
    try:
        import torch
    except ImportError:
        return
    out = models.torch_programs(torch, arrays)["gradient"]()
    assert models.grad_agreement(models.torch_grad_arrays(out, 2, 2), ours) < 1e-12


def test_interleaved_timings_and_ratio():
    calls = []
    programs = {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}
    t = common.interleaved(programs, repeats=3, warmup=1)
    assert calls == ["a", "b"] + ["a", "b"] * 3  # warm-up, then one of each per round
    assert set(t["a"]) == {"median_s", "min_s", "times_s"} and len(t["a"]["times_s"]) == 3
    t = {"slow": {"times_s": [2.0, 4.0, 6.0]}, "fast": {"times_s": [1.0, 1.0, 2.0]}}
    assert common.ratio(t, "slow", "fast") == 3.0  # median of the per-round ratios 2, 4, 3


def test_write_records_provenance(tmp_path):
    out = common.write("demo", {"rows": [1, 2]}, tmp_path / "demo.json")
    report = json.loads(out.read_text())
    assert report["benchmark"] == "demo" and report["rows"] == [1, 2]
    assert {"cpu", "cores", "platform", "device_platform", "device_kind"} <= set(report["machine"])
    assert report["machine"]["device_platform"] == jax.devices()[0].platform
    assert {"jax", "jaxlib", "numpy", "torch"} <= set(report["versions"])
    assert report["date"].endswith("Z") and "commit" in report
    assert not list(tmp_path.glob("*.tmp"))


def test_table_lines_up():
    text = common.table(["name", "ms"], [["a", 1.23456], ["long name", None]])
    lines = text.splitlines()
    assert len({len(line) for line in lines}) == 1
    assert "1.23" in lines[1] and lines[2].endswith("-")

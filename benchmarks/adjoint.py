"""Time and memory of the four COT-gradient programs against depth (chapter 2, MATH.md §3.4).

Programs: the exact discrete adjoint (``cot_gradient(method="exact")``), the continuous adjoint
(``method="continuous"``), plain ``jax.grad`` through an unchecked layer scan, and ``jax.grad``
with ``jax.checkpoint`` on the layer (``method="autodiff"``). Memory is XLA's compiled memory
analysis: ``temp_size_in_bytes``, the working buffers beyond the arguments and outputs (which all
four programs share), so it needs no process-level sampling. Time is the median wall time of
compiled calls on this machine.

    python benchmarks/adjoint.py            # L in {16, 64, 256, 1024}, a few minutes on 2 cores
    python benchmarks/adjoint.py --quick    # tiny sizes, seconds (used by the tests)

Writes ``benchmarks/results/adjoint.json`` (atomically) and prints a table. The four programs are
timed interleaved (one call of each per round) at each depth.
"""

import argparse
import sys
from pathlib import Path

import mftransformer as mft

mft.configure()

import jax  # noqa: E402

from mftransformer.experiments.adjoint import (  # noqa: E402
    MODES,
    compiled_bytes,
    gradient_programs,
    instance,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _common, _models beside it
import _common as common  # noqa: E402

FULL = {"d": 4, "n": 16, "N": 4, "M": 4, "Ls": (16, 64, 256, 1024), "repeats": 7}
QUICK = {"d": 2, "n": 4, "N": 2, "M": 2, "Ls": (4, 16), "repeats": 1}
#: Targets of issue 6: flat continuous memory, exact memory = the stored token states, time.
FLAT_RATIO_MAX, EXACT_OVER_STATES_MAX, EXACT_TIME_RATIO_MAX, TIME_AT_L = 1.3, 1.05, 2.0, 64


def run(sizes: dict) -> dict:
    d, n, N, M = sizes["d"], sizes["n"], sizes["N"], sizes["M"]
    rows = []
    for L in sizes["Ls"]:
        args = instance(d, n, N, L, M, 0.5, key=jax.random.key(0), pad=False)
        compiled = {
            mode: jax.jit(fn).lower(*args).compile() for mode, fn in gradient_programs().items()
        }
        # the four programs timed side by side, one call of each per round
        timings = common.interleaved(
            {mode: (lambda c=c, a=args: c(*a)) for mode, c in compiled.items()}, sizes["repeats"]
        )
        for mode, c in compiled.items():
            stats = c.memory_analysis()
            rows.append(
                {
                    "L": L,
                    "mode": mode,
                    "temp_bytes": compiled_bytes(c),
                    "argument_bytes": int(stats.argument_size_in_bytes),
                    "output_bytes": int(stats.output_size_in_bytes),
                    "seconds": timings[mode]["median_s"],
                }
            )
    report = {
        "title": "Adjoint programs against depth",
        "sizes": dict(sizes, Ls=list(sizes["Ls"])),
        "rows": rows,
        "summary": summarise(rows, sizes),
        "memory_method": "XLA compiled memory analysis, temp_size_in_bytes (beyond args/outputs)",
        "device": str(jax.devices()[0]),
        "jax": jax.__version__,
    }
    report["findings"] = table(report).splitlines()[-4:]
    report["tables"] = [
        {
            "title": "Time and memory of the four gradient programs (chapter 2) against L "
            f"(d = {d}, n = {n}, N = {N}, M = {M})",
            "header": ["L", "program", "temp bytes", "median ms"],
            "rows": [[r["L"], r["mode"], r["temp_bytes"], r["seconds"] * 1e3] for r in rows],
            "note": report["memory_method"],
        }
    ]
    return report


def summarise(rows, sizes) -> dict:
    Ls = list(sizes["Ls"])
    get = {(r["mode"], r["L"]): r for r in rows}
    lo, hi = Ls[0], Ls[-1]
    state_bytes = sizes["N"] * (sizes["n"] + 1) * sizes["d"] * 8
    per_layer = {
        m: (get[m, hi]["temp_bytes"] - get[m, lo]["temp_bytes"]) / (hi - lo) for m in MODES
    }
    flat = get["continuous", hi]["temp_bytes"] / get["continuous", lo]["temp_bytes"]
    L_t = TIME_AT_L if TIME_AT_L in Ls else Ls[len(Ls) // 2]
    time_ratio = get["exact", L_t]["seconds"] / get["autodiff", L_t]["seconds"]
    return {
        "bytes_per_layer": per_layer,
        "state_bytes_per_layer": state_bytes,
        "continuous_memory_ratio": flat,
        "continuous_flat": flat <= FLAT_RATIO_MAX,
        "exact_over_states": per_layer["exact"] / state_bytes,
        "exact_stores_states_only": per_layer["exact"] / state_bytes <= EXACT_OVER_STATES_MAX,
        "time_ratio_L": L_t,
        "exact_over_autodiff_time": time_ratio,
        "exact_time_ok": time_ratio <= EXACT_TIME_RATIO_MAX,
    }


def table(report) -> str:
    lines = [
        f"memory: {report['memory_method']}; device {report['device']}",
        f"{'L':>6} {'mode':>20} {'temp bytes':>12} {'seconds':>10}",
    ]
    for r in report["rows"]:
        lines.append(f"{r['L']:>6} {r['mode']:>20} {r['temp_bytes']:>12d} {r['seconds']:>10.4f}")
    s = report["summary"]
    lines += [
        "bytes per layer: "
        + ", ".join(f"{m} {v:.0f}" for m, v in s["bytes_per_layer"].items())
        + f"; token states B(n+1)d*8 = {s['state_bytes_per_layer']}",
        f"continuous memory L_max/L_min = {s['continuous_memory_ratio']:.3f} "
        f"(target <= {FLAT_RATIO_MAX}): {'PASS' if s['continuous_flat'] else 'FAIL'}",
        f"exact bytes per layer / token states = {s['exact_over_states']:.3f} "
        f"(target <= {EXACT_OVER_STATES_MAX}): "
        f"{'PASS' if s['exact_stores_states_only'] else 'FAIL'}",
        f"exact / jax.grad time at L = {s['time_ratio_L']}: {s['exact_over_autodiff_time']:.2f} "
        f"(target <= {EXACT_TIME_RATIO_MAX}): {'PASS' if s['exact_time_ok'] else 'FAIL'}",
    ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (seconds)")
    parser.add_argument("--out", default=None, help="JSON path (default benchmarks/results/)")
    args = parser.parse_args(argv)
    report = run(QUICK if args.quick else FULL)
    print(table(report))
    print(f"wrote {common.write('adjoint', report, args.out)}")
    return report


if __name__ == "__main__":
    main(sys.argv[1:])

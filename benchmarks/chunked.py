"""Dense against streamed attention: time and compiled memory against the number of tokens n.

One layer's kernels on one network state (B contexts of n atoms and one query, M heads, d), as
the forward pass (``state_field``) and the exact adjoint (``state_vjp``) call them, with the dense
kernel (``chunk=0``, the ``(M, n+1, n)`` score tensor) and the streamed one (``chunk=c``, memory
linear in n; ``solver/streaming.py``). Dense and streamed are timed interleaved (one call of each
per round); memory is XLA's ``compiled.memory_analysis().temp_size_in_bytes``. A second table
sweeps the block size at one n. The threshold ``STREAM_MIN_N`` of ``solver/streaming.py`` is the
smallest n from which the streamed kernels are no slower than the dense ones (both of them,
within 10 %); this run's value is printed beside the module's.

    python benchmarks/chunked.py            # about two minutes on 2 cores
    python benchmarks/chunked.py --quick    # tiny sizes (tests)

Writes ``benchmarks/results/chunked.json``.
"""

import argparse
import sys
from pathlib import Path

import jax
import jax.numpy as jnp

import mftransformer as mft

mft.configure()

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _common beside it
import _common as common  # noqa: E402

from mftransformer.solver import streaming  # noqa: E402
from mftransformer.solver.attention import state_field, state_vjp  # noqa: E402

SIZE = {"B": 1, "d": 4, "M": 8, "ns": [256, 512, 1024, 2048, 4096], "dense_max_n": 2048}
QUICK_SIZE = {"B": 1, "d": 2, "M": 2, "ns": [64, 128, 256], "dense_max_n": 256}
CHUNKS, QUICK_CHUNKS, SWEEP_N, QUICK_SWEEP_N = [32, 64, 128, 256, 512], [16, 64], 2048, 256
SLACK = 1.1  # "no slower": within 10 % (the machine is shared; ratios are per-round medians)


def inputs(B, n, d, M, dtype=jnp.float64):
    k = jax.random.split(jax.random.key(0), 4)
    A = (0.5 / d**0.5) * jax.random.normal(k[0], (M, d, d), dtype)
    V = jax.random.normal(k[1], (M, d, d), dtype) / d**0.5
    z = jax.random.normal(k[2], (B, n + 1, d), dtype)
    lam = jax.random.normal(k[3], (B, n + 1, d), dtype)
    loga = jnp.full((B, n), -jnp.log(n), dtype)
    return A, V, z, loga, lam


def programs(n, chunk):
    """The layer's field and its adjoint with a given kernel, jitted."""
    fwd = jax.jit(lambda A, V, z, loga, lam: state_field(A, V, z, loga, n, chunk=chunk))
    adj = jax.jit(lambda A, V, z, loga, lam: state_vjp(A, V, z, loga, n, lam, chunk=chunk))
    return {"field": fwd, "vjp": adj}


def measure(n, chunks: dict, size, repeats):
    """Compiled temporaries and interleaved median times of each (kernel, program)."""
    args = inputs(size["B"], n, size["d"], size["M"])
    compiled, row = {}, {"n": n}
    for kernel, chunk in chunks.items():
        for prog, fn in programs(n, chunk).items():
            c = fn.lower(*args).compile()
            compiled[f"{kernel}/{prog}"] = c
            row[f"{kernel}/{prog}/temp_bytes"] = int(c.memory_analysis().temp_size_in_bytes)
    t = common.interleaved({k: (lambda c=c: c(*args)) for k, c in compiled.items()}, repeats)
    for k in compiled:
        row[f"{k}/seconds"] = t[k]["median_s"]
    if "dense" in chunks and "streamed" in chunks:
        for prog in ("field", "vjp"):
            row[f"{prog}/streamed_over_dense"] = common.ratio(
                t, f"streamed/{prog}", f"dense/{prog}"
            )
    return row


def run(quick: bool = False) -> dict:
    size = QUICK_SIZE if quick else SIZE
    repeats = 3
    chunk = 16 if quick else streaming.DEFAULT_CHUNK
    rows = []
    for n in size["ns"]:
        kernels = {"streamed": chunk}
        if n <= size["dense_max_n"]:
            kernels = {"dense": 0, **kernels}
        rows.append(measure(n, kernels, size, repeats))
    sweep_n = QUICK_SWEEP_N if quick else SWEEP_N
    sweep = measure(sweep_n, {f"c={c}": c for c in (QUICK_CHUNKS if quick else CHUNKS)}, size, 3)
    return {
        "title": "Dense and streamed attention against n",
        "size": size,
        "chunk": chunk,
        "rows": rows,
        "chunk_sweep": sweep,
        "threshold_measured": threshold(rows),
        "threshold_module": streaming.STREAM_MIN_N,
        "default_chunk_module": streaming.DEFAULT_CHUNK,
        "memory_method": "XLA compiled memory analysis, temp_size_in_bytes (beyond args/outputs)",
        "device": str(jax.devices()[0]),
        "jax": jax.__version__,
    }


def threshold(rows) -> int | None:
    """The smallest n from which every measured n has both streamed kernels within SLACK of the
    dense ones (None if none)."""
    found = None
    for row in reversed([r for r in rows if "field/streamed_over_dense" in r]):
        if max(row["field/streamed_over_dense"], row["vjp/streamed_over_dense"]) > SLACK:
            break
        found = row["n"]
    return found


def tables(report) -> str:
    header = ["n", "kernel", "field s", "field MB", "vjp s", "vjp MB", "field ratio", "vjp ratio"]
    out = []
    for r in report["rows"]:
        for kernel in ("dense", "streamed"):
            if f"{kernel}/field/seconds" not in r:
                continue
            out.append(
                [
                    r["n"],
                    kernel,
                    r[f"{kernel}/field/seconds"],
                    r[f"{kernel}/field/temp_bytes"] / 1e6,
                    r[f"{kernel}/vjp/seconds"],
                    r[f"{kernel}/vjp/temp_bytes"] / 1e6,
                    r.get("field/streamed_over_dense") if kernel == "streamed" else None,
                    r.get("vjp/streamed_over_dense") if kernel == "streamed" else None,
                ]
            )
    s = report["chunk_sweep"]
    blocks = [k.split("/")[0] for k in s if k.endswith("/field/seconds")]
    sweep = [[c, s[f"{c}/field/seconds"], s[f"{c}/vjp/seconds"]] for c in blocks]
    size = report["size"]
    return "\n".join(
        [
            f"{report['title']} (B = {size['B']}, d = {size['d']}, M = {size['M']}, "
            f"block {report['chunk']}; ratio = streamed / dense time)",
            common.table(header, out),
            "",
            f"block size at n = {s['n']}",
            common.table(["block", "field s", "vjp s"], sweep),
            "",
            f"threshold measured: n >= {report['threshold_measured']}; "
            f"module STREAM_MIN_N = {report['threshold_module']}",
        ]
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (tests)")
    parser.add_argument("--out", default=None, help="JSON path (default benchmarks/results/)")
    args = parser.parse_args(argv)
    report = run(quick=args.quick)
    print(tables(report))
    print("wrote", common.write("chunked", report, args.out))


if __name__ == "__main__":
    main()

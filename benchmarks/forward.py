"""Forward-pass benchmark: speed and memory ratios of the design choices of ``forward.py``.

Measured in one run, reported as ratios (never as absolute targets):

* heads as an ``einsum`` axis vs ``vmap`` over heads (time ratio; the design expects ~1.4x);
* float32 vs float64 (time ratio);
* the gradient's peak temporary memory with and without ``jax.checkpoint`` on the layer body, as
  depth grows (compiled memory analysis of XLA: bytes of temporaries), and the growth per layer
  compared with the token states ``B (n + 1) d`` x 8 bytes that a checkpointed scan must keep.

Usage: ``python benchmarks/forward.py [--quick]``; writes ``benchmarks/results/forward.json``.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp


def _best_time(fn, *args, repeat=5):
    jax.block_until_ready(fn(*args))  # compile
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - start)
    return best


def _field_vmap(A, V, x, loga, z):
    """The reference alternative: ``vmap`` over heads, then the mean."""

    def one(Am, Vm):
        w = jax.nn.softmax(jnp.einsum("ij,kj,ni->kn", Am, z, x) + loga[None, :], axis=-1)
        return (w @ x) @ Vm.T

    return jax.vmap(one)(A, V).mean(0)


def _scan(field_fn, theta_A, theta_V, z0, loga, n, checkpoint):
    L = theta_A.shape[0]

    def body(z, heads):
        A, V = heads
        step = jax.vmap(field_fn, (None, None, 0, 0, 0))(A, V, z[:, :n], loga, z)
        return z + step / L, None

    body = jax.checkpoint(body) if checkpoint else body
    z, _ = jax.lax.scan(body, z0, (theta_A, theta_V))
    return z


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small sizes (for tests)")
    parser.add_argument("--out", default="benchmarks/results/forward.json")
    args = parser.parse_args(argv)

    import mftransformer as mft
    from mftransformer.solver.attention import _field

    mft.configure()
    B, n, d, M = (2, 16, 2, 8) if args.quick else (8, 64, 4, 32)
    L_time = 8 if args.quick else 32
    Ls_memory = (8, 32) if args.quick else (16, 64, 256)
    key = jax.random.key(0)
    results = {
        "sizes": {"B": B, "n": n, "d": d, "M": M, "L_time": L_time},
        "device": jax.devices()[0].platform,
        "cpus": os.cpu_count(),
    }

    def setup(dtype, L):
        theta = mft.tasks.generic_init(L, M, d, key=key)
        mu = mft.sample_gaussian(jax.random.fold_in(key, 1), B, n, d)
        z0 = jnp.concatenate([mu.x, jnp.ones((B, 1, d))], axis=1).astype(dtype)
        return theta.A.astype(dtype), theta.V.astype(dtype), z0, mu.loga.astype(dtype)

    # 1. einsum over heads vs vmap over heads (float64)
    A, V, z0, loga = setup(jnp.float64, L_time)
    t_einsum = _best_time(jax.jit(lambda *a: _scan(_field, *a, n, True)), A, V, z0, loga)
    t_vmap = _best_time(jax.jit(lambda *a: _scan(_field_vmap, *a, n, True)), A, V, z0, loga)
    results["einsum_vs_vmap"] = {
        "einsum_s": t_einsum,
        "vmap_s": t_vmap,
        "speedup": t_vmap / t_einsum,
    }

    # 2. float32 vs float64 (einsum)
    A32, V32, z32, loga32 = setup(jnp.float32, L_time)
    t32 = _best_time(jax.jit(lambda *a: _scan(_field, *a, n, True)), A32, V32, z32, loga32)
    results["float32_vs_float64"] = {
        "float64_s": t_einsum,
        "float32_s": t32,
        "speedup": t_einsum / t32,
    }

    # 3. gradient memory with and without checkpointing, as L grows
    rows = []
    for L in Ls_memory:
        A, V, z0, loga = setup(jnp.float64, L)
        row = {"L": L}
        for checkpoint in (False, True):
            loss = lambda A, V: jnp.sum(_scan(_field, A, V, z0, loga, n, checkpoint) ** 2)  # noqa: E731
            compiled = jax.jit(jax.grad(loss, argnums=(0, 1))).lower(A, V).compile()
            analysis = compiled.memory_analysis()
            row["checkpoint" if checkpoint else "plain"] = int(analysis.temp_size_in_bytes)
        rows.append(row)
    state_bytes = B * (n + 1) * d * 8
    growth = {
        k: (rows[-1][k] - rows[0][k]) / (rows[-1]["L"] - rows[0]["L"])
        for k in ("plain", "checkpoint")
    }
    results["grad_memory"] = {
        "rows": rows,
        "bytes_per_layer_plain": growth["plain"],
        "bytes_per_layer_checkpoint": growth["checkpoint"],
        "token_state_bytes": state_bytes,
        "plain_over_checkpoint_at_max_L": rows[-1]["plain"] / max(rows[-1]["checkpoint"], 1),
    }

    print(
        f"forward benchmark on {results['device']} ({results['cpus']} cpus), B={B} n={n} d={d} M={M}"
    )
    print(
        f"  einsum vs vmap over heads : {results['einsum_vs_vmap']['speedup']:.2f}x faster "
        f"({t_einsum * 1e3:.1f} ms vs {t_vmap * 1e3:.1f} ms, L={L_time})"
    )
    print(f"  float32 vs float64        : {results['float32_vs_float64']['speedup']:.2f}x faster")
    print("  gradient temporaries (bytes):   L   plain      checkpoint")
    for row in rows:
        print(
            f"                              {row['L']:4d} {row['plain']:10d} {row['checkpoint']:10d}"
        )
    print(
        f"  growth per layer: plain {growth['plain']:.0f} B, checkpoint {growth['checkpoint']:.0f} B "
        f"(token states B(n+1)d*8 = {state_bytes} B)"
    )

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, out)
    print(f"  wrote {out}")
    return results


if __name__ == "__main__":
    sys.exit(0 if main() else 1)

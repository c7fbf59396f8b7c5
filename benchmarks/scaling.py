"""How the solver's time and memory scale: time against n, M, L and B, gradient memory against L.

Around a base size, one of (n, M, L, B) is doubled at a time; ``forward`` and ``forward+gradient``
(``mft.forward``, ``mft.cot_gradient``) are timed (medians; all points interleaved, one call of
each per round) and the log-log slope is fitted by least squares. Expected: 2 in n (the
``B·M·n²`` score tensor), 1 in M, L and B.

Gradient memory against L is XLA's compiled memory analysis (``temp_size_in_bytes``: working
buffers beyond arguments and outputs; compiled, never run) of ``mft.cot_gradient`` and of
``jax.grad`` through a layer scan of ``mft.field`` with and without ``jax.checkpoint``: flat in
the attention with checkpointing (only the token states ``B (n+1) d`` per layer grow), one
layer's residuals per layer without.

    python benchmarks/scaling.py            # about two minutes on 2 cores
    python benchmarks/scaling.py --quick    # tiny sizes, seconds (tests)

Writes ``benchmarks/results/scaling.json``.
"""

import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import mftransformer as mft

mft.configure()

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _common, _models beside it
import _common as common  # noqa: E402
import _models as models  # noqa: E402

BASE = {"B": 8, "n": 64, "d": 4, "M": 8, "L": 8}
SWEEPS = {"n": (32, 64, 128, 256), "M": (4, 8, 16, 32), "L": (4, 8, 16, 32), "B": (4, 8, 16, 32)}
EXPECTED = {"n": 2.0, "M": 1.0, "L": 1.0, "B": 1.0}
MEMORY_LS = (8, 32, 128)
MEMORY_SIZE = {"B": 8, "n": 64, "d": 4, "M": 8}

QUICK_BASE = {"B": 2, "n": 8, "d": 2, "M": 2, "L": 2}
QUICK_SWEEPS = {"n": (8, 16), "M": (2, 4), "L": (2, 4), "B": (2, 4)}
QUICK_MEMORY_LS = (4, 8)
QUICK_MEMORY_SIZE = {"B": 2, "n": 8, "d": 2, "M": 2}


def slope(xs, ys) -> float:
    """Least-squares slope of ``log y`` against ``log x``."""
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def time_sweeps(base, sweeps, repeats) -> dict:
    """Every point of every sweep, forward and forward+gradient, timed interleaved (one call of
    each per round), so that a change of the machine's load spreads over all points alike."""
    programs = models.mft_programs()
    calls = {}
    for axis, values in sweeps.items():
        for v in values:
            args = models.jax_inputs(models.instance(**dict(base, **{axis: v})))
            for name in ("forward", "autodiff"):
                calls[axis, v, name] = lambda f=programs[name], a=args: f(*a)
    t = common.interleaved(calls, repeats=repeats)
    out = {}
    for axis, values in sweeps.items():
        rows = [
            {axis: v, **{name: t[axis, v, name]["median_s"] for name in ("forward", "autodiff")}}
            for v in values
        ]
        out[axis] = {
            "values": list(values),
            "rows": rows,
            "exponent_forward": slope(values, [r["forward"] for r in rows]),
            "exponent_gradient": slope(values, [r["autodiff"] for r in rows]),
            "expected": EXPECTED[axis],
        }
    return out


def field_scan_risk(checkpoint: bool):
    """Task-T risk through a ``lax.scan`` over layers of ``mft.field`` (the package's public
    layer field), with or without ``jax.checkpoint`` on the body: the two ways to differentiate
    a layer scan, side by side."""

    def risk(theta, mu, xi, targets):
        n, L = mu.n, theta.L
        z0 = jnp.concatenate([mu.x, xi[:, None, :]], axis=1)

        def body(z, heads):
            A, V = heads
            return z + mft.field(A, V, mft.EmpiricalMeasure(z[:, :n], mu.a), z) / L, None

        body = jax.checkpoint(body) if checkpoint else body
        z, _ = jax.lax.scan(body, z0, (theta.A, theta.V))
        return 0.5 * jnp.sum(mu.a * jnp.sum((z[:, :n] - targets.T) ** 2, -1)) / mu.B

    return risk


MEMORY_PROGRAMS = {
    "mft.cot_gradient": lambda th, mu, xi, tg: mft.cot_gradient(th, mu, xi, tg),
    "scan + checkpoint": jax.grad(field_scan_risk(True)),
    "scan, no checkpoint": jax.grad(field_scan_risk(False)),
}


def gradient_memory(size, Ls) -> dict:
    """Compiled temporaries (bytes) of three gradient programs against depth ``L``."""
    rows = []
    for L in Ls:
        args = models.jax_inputs(models.instance(**size, L=L))
        row = {"L": L}
        for name, fn in MEMORY_PROGRAMS.items():
            compiled = jax.jit(fn).lower(*args).compile()
            row[name] = int(compiled.memory_analysis().temp_size_in_bytes)
        rows.append(row)
    B, n, d, M = (size[k] for k in ("B", "n", "d", "M"))
    lo, hi = rows[0], rows[-1]
    Ls = [r["L"] for r in rows]
    return {
        "size": size,
        "programs": list(MEMORY_PROGRAMS),
        "rows": rows,
        "bytes_per_layer": {k: (hi[k] - lo[k]) / (hi["L"] - lo["L"]) for k in MEMORY_PROGRAMS},
        "exponent": {k: slope(Ls, [r[k] for r in rows]) for k in MEMORY_PROGRAMS},
        "token_state_bytes_per_layer": B * (n + 1) * d * 8,
        "score_tensor_bytes": B * M * (n + 1) * n * 8,
        "plain_over_package_at_max_L": hi["scan, no checkpoint"] / max(hi["mft.cot_gradient"], 1),
    }


def run(quick: bool = False) -> dict:
    base = QUICK_BASE if quick else BASE
    sweeps = QUICK_SWEEPS if quick else SWEEPS
    times = time_sweeps(base, sweeps, repeats=3 if quick else 7)
    memory = gradient_memory(
        QUICK_MEMORY_SIZE if quick else MEMORY_SIZE, QUICK_MEMORY_LS if quick else MEMORY_LS
    )
    findings = [
        f"time against {a}: exponent {s['exponent_forward']:.2f} (forward), "
        f"{s['exponent_gradient']:.2f} (forward+gradient); expected {s['expected']:.0f}"
        for a, s in times.items()
    ]
    bpl, ex = memory["bytes_per_layer"], memory["exponent"]
    findings.append(
        f"gradient memory against L: mft.cot_gradient grows {bpl['mft.cot_gradient']:.0f} B per "
        f"layer (token states B(n+1)d x 8 = {memory['token_state_bytes_per_layer']} B; log-log "
        f"slope {ex['mft.cot_gradient']:.2f}), a scan without checkpoint "
        f"{bpl['scan, no checkpoint']:.0f} B per layer (slope {ex['scan, no checkpoint']:.2f}): "
        f"{memory['plain_over_package_at_max_L']:.0f}x more at L = {memory['rows'][-1]['L']}"
    )
    return {
        "title": "Scaling",
        "quick": quick,
        "base": base,
        "time": times,
        "memory": memory,
        "findings": findings,
        "tables": tables(base, times, memory),
        "figure": "scaling",
    }


def tables(base, times, memory) -> list[dict]:
    rows = []
    for axis, s in times.items():
        for r in s["rows"]:
            rows.append([axis, r[axis], r["forward"] * 1e3, r["autodiff"] * 1e3])
    fits = [
        [a, s["exponent_forward"], s["exponent_gradient"], s["expected"]] for a, s in times.items()
    ]
    progs = memory["programs"]
    mem_rows = [[r["L"]] + [r[k] for k in progs] for r in memory["rows"]]
    mem_rows.append(["bytes per layer"] + [memory["bytes_per_layer"][k] for k in progs])
    mem_rows.append(["log-log slope"] + [memory["exponent"][k] for k in progs])
    shape = ", ".join(f"{k} = {v}" for k, v in base.items())
    msize = ", ".join(f"{k} = {v}" for k, v in memory["size"].items())
    return [
        {
            "title": f"Time against one size at a time (base {shape})",
            "header": ["varied", "value", "forward ms", "forward+gradient ms"],
            "rows": rows,
        },
        {
            "title": "Fitted log-log exponents",
            "header": ["size", "forward", "forward+gradient", "expected"],
            "rows": fits,
        },
        {
            "title": f"Gradient memory against L ({msize}; XLA temporaries, bytes)",
            "header": ["L", *progs],
            "rows": mem_rows,
            "note": "Token states per layer B(n+1)d x 8 = "
            f"{memory['token_state_bytes_per_layer']} B; one score tensor B M (n+1) n x 8 = "
            f"{memory['score_tensor_bytes']} B.",
        },
    ]


def main(argv=None):
    return common.cli("scaling", run, __doc__, argv)


if __name__ == "__main__":
    main(sys.argv[1:])

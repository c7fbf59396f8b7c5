"""Forward-pass design choices, measured side by side: how the heads are batched, and precision.

Interleaved in one run (one call of each per round; ratios are medians of per-round ratios):

* heads as an array axis contracted by ``einsum`` (``mft.field``, two contractions) against
  ``vmap`` over heads (``mft.field`` on one head at a time) and against one three-operand
  ``einsum`` for the scores, each in the same checkpointed layer scan (the design expects the
  batched heads to be ~1.4x faster than ``vmap``);
* ``mft.forward`` in float32 against float64.

Gradient memory with and without checkpointing is in ``scaling.py``.

    python benchmarks/forward.py            # seconds to a minute on 2 cores
    python benchmarks/forward.py --quick    # tiny sizes (tests)

Writes ``benchmarks/results/forward.json``.
"""

import argparse
import sys
from pathlib import Path

import jax
import jax.numpy as jnp

import mftransformer as mft

mft.configure()

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _common, _models beside it
import _common as common  # noqa: E402
import _models as models  # noqa: E402

SIZE = {"B": 8, "n": 64, "d": 4, "M": 32, "L": 32}
QUICK_SIZE = {"B": 2, "n": 16, "d": 2, "M": 8, "L": 8}


def field_einsum(A, V, mu, z):
    """The package's layer field: heads an ``einsum`` axis."""
    return mft.field(A, V, mu, z)


def field_vmap(A, V, mu, z):
    """``vmap`` over heads of the one-head field, then the mean."""
    return jax.vmap(lambda a, v: mft.field(a[None], v[None], mu, z))(A, V).mean(0)


def field_einsum3(A, V, mu, z):
    """The scores as one three-operand ``einsum`` ``<A_m z_k, x_j>`` (written here in plain JAX)."""
    scores = jnp.einsum("mij,bkj,bni->bmkn", A, z, mu.x) + mu.loga[:, None, None, :]
    w = jax.nn.softmax(scores, axis=-1)
    return jnp.einsum("mij,bmkn,bnj->bki", V, w, mu.x) / A.shape[0]


def scan(field_fn):
    """The Euler network with ``field_fn`` as the layer field, checkpointed layer scan."""

    @jax.jit
    def run(theta, mu, xi):
        n, L = mu.n, theta.L
        z0 = jnp.concatenate([mu.x, xi[:, None, :]], axis=1)

        @jax.checkpoint
        def body(z, heads):
            A, V = heads
            return z + field_fn(A, V, mft.EmpiricalMeasure(z[:, :n], mu.a), z) / L, None

        z, _ = jax.lax.scan(body, z0, (theta.A, theta.V))
        return z

    return run


def run(quick: bool = False) -> dict:
    size = QUICK_SIZE if quick else SIZE
    repeats = 3 if quick else 7
    th, mu, xi, tg = models.jax_inputs(models.instance(**size))
    th32, mu32, xi32, tg32 = models.jax_inputs(models.instance(**size, dtype=jnp.float32))
    forward = models.mft_programs()["forward"]
    variants = {
        name: scan(f)
        for name, f in (("einsum", field_einsum), ("vmap", field_vmap), ("einsum3", field_einsum3))
    }
    ref = forward(th, mu, xi, tg)
    agreement = {k: models.max_rel(f(th, mu, xi), ref) for k, f in variants.items()}
    if max(agreement.values()) > 1e-12:
        raise RuntimeError(f"forward: the variants disagree with mft.forward: {agreement}")
    programs = {
        "heads einsum (mft.field)": lambda: variants["einsum"](th, mu, xi),
        "vmap over heads": lambda: variants["vmap"](th, mu, xi),
        "three-operand einsum": lambda: variants["einsum3"](th, mu, xi),
        "mft.forward float64": lambda: forward(th, mu, xi, tg),
        "mft.forward float32": lambda: forward(th32, mu32, xi32, tg32),
    }
    t = common.interleaved(programs, repeats=repeats)
    ratios = {
        "vmap over heads / heads einsum": common.ratio(
            t, "vmap over heads", "heads einsum (mft.field)"
        ),
        "three-operand einsum / heads einsum": common.ratio(
            t, "three-operand einsum", "heads einsum (mft.field)"
        ),
        "float64 / float32": common.ratio(t, "mft.forward float64", "mft.forward float32"),
    }
    rows = [[k, v["median_s"] * 1e3] for k, v in t.items()]
    findings = [
        f"heads as an einsum axis are {ratios['vmap over heads / heads einsum']:.2f}x faster than "
        f"vmap over heads (the design expects ~1.4x)",
        f"two contractions are {ratios['three-operand einsum / heads einsum']:.2f}x faster than "
        f"one three-operand einsum",
        f"float32 is {ratios['float64 / float32']:.2f}x faster than float64",
    ]
    shape = ", ".join(f"{k} = {v}" for k, v in size.items())
    return {
        "title": "Forward-pass design choices",
        "quick": quick,
        "size": size,
        "timings": {k: {"median_s": v["median_s"], "min_s": v["min_s"]} for k, v in t.items()},
        "agreement": agreement,
        "ratios": ratios,
        # the keys of the first version of this benchmark
        "einsum_vs_vmap": {"speedup": ratios["vmap over heads / heads einsum"]},
        "float32_vs_float64": {"speedup": ratios["float64 / float32"]},
        "findings": findings,
        "tables": [
            {
                "title": f"Forward pass at {shape}, interleaved in one run",
                "header": ["program", "median ms"],
                "rows": rows,
            },
            {
                "title": "Ratios (> 1: the second is faster)",
                "header": ["ratio", "value"],
                "rows": [[k, v] for k, v in ratios.items()],
            },
        ],
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (for tests)")
    parser.add_argument("--out", default=None, help="JSON path (default benchmarks/results/)")
    args = parser.parse_args(argv)
    report = run(args.quick)
    for t in report["tables"]:
        print(f"\n{t['title']}\n{common.table(t['header'], t['rows'])}")
    print("\n" + "\n".join(report["findings"]))
    print(f"wrote {common.write('forward', report, args.out)}")
    return report


if __name__ == "__main__":
    main(sys.argv[1:])

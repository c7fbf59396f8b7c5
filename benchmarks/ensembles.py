"""Independent training runs in one batch or in small batches: time per run against the batch size.

``solver.ensembles.train_seeds`` runs :math:`S` gradient descents (same data, their own heads)
either as one vmapped program (``batch=None``) or as batches of ``batch`` runs one after another
(``jax.lax.map``), with equal results. On a CPU, one batch of :math:`S` wide runs holds
:math:`S` times a layer's arrays and leaves the cache; small batches keep them in it. The sizes
are chapter 3's ``meanfield`` at ``ci`` (d = 2, n = N = 6, L = 4, 50 steps), at widths 128 and
512, with 16 runs; the programs are timed interleaved (one call of each per round) and the ratio
is the per-round median of time(batch) / time(one batch). The ``ci`` parameter set's
``gradflow.meanfield.batch`` is the fastest batch size measured here.

    python benchmarks/ensembles.py            # about two minutes on 2 cores
    python benchmarks/ensembles.py --quick    # tiny sizes (tests)

Writes ``benchmarks/results/ensembles.json``.
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

from mftransformer.solver import ensembles, tasks  # noqa: E402

SIZE = {"d": 2, "n": 6, "N": 6, "L": 4, "steps": 50, "eta": 0.4, "runs": 16, "Ms": [128, 512]}
QUICK_SIZE = {"d": 2, "n": 3, "N": 2, "L": 2, "steps": 4, "eta": 0.1, "runs": 4, "Ms": [4]}
BATCHES, QUICK_BATCHES = [None, 4, 1], [None, 1]


def inputs(size, M):
    """Task data and ``runs`` silent initialisations of width ``M``."""
    d, n, N = size["d"], size["n"], size["N"]
    mu = mft.sample_cloud(jax.random.key(1), N, n, d)
    xi = jnp.tile(jnp.eye(d)[:1], (N, 1))
    targets = mft.Targets(W=jnp.eye(d)[:1], y=0.3 * jnp.ones((N, 1)))
    thetas = [
        tasks.silent_init(size["L"], M, d, key=jax.random.key(10 + s)) for s in range(size["runs"])
    ]
    return thetas, mu, xi, targets


def measure(size, M, batches, repeats):
    thetas, mu, xi, targets = inputs(size, M)

    def program(batch):
        return lambda: (
            ensembles.train_seeds(
                thetas, mu, xi, targets, eta=size["eta"], steps=size["steps"], batch=batch
            ).R
        )

    names = {f"batch={b}": program(b) for b in batches}
    t = common.interleaved(names, repeats)
    row = {"M": M, "runs": size["runs"]}
    for name in names:
        row[f"{name}/seconds_per_run"] = t[name]["median_s"] / size["runs"]
        row[f"{name}/over_one_batch"] = common.ratio(t, name, "batch=None")
    return row


def run(quick: bool = False) -> dict:
    size, batches = (QUICK_SIZE, QUICK_BATCHES) if quick else (SIZE, BATCHES)
    rows = [measure(size, M, batches, repeats=3) for M in size["Ms"]]
    return {
        "title": "train_seeds: time per run against the batch size",
        "size": size,
        "batches": [str(b) for b in batches],
        "rows": rows,
        "device": str(jax.devices()[0]),
        "jax": jax.__version__,
    }


def tables(report) -> str:
    header = ["M", "batch", "s per run", "time / one batch"]
    out = []
    for r in report["rows"]:
        for b in report["batches"]:
            out.append([r["M"], b, r[f"batch={b}/seconds_per_run"], r[f"batch={b}/over_one_batch"]])
    size = report["size"]
    return "\n".join(
        [
            f"{report['title']} ({size['runs']} runs, d = {size['d']}, n = {size['n']}, "
            f"N = {size['N']}, L = {size['L']}, {size['steps']} steps)",
            common.table(header, out),
        ]
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (tests)")
    parser.add_argument("--out", default=None, help="JSON path (default benchmarks/results/)")
    args = parser.parse_args(argv)
    report = run(quick=args.quick)
    print(tables(report))
    print("wrote", common.write("ensembles", report, args.out))


if __name__ == "__main__":
    main()

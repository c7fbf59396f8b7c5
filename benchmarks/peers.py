"""The solver against what a user would write instead: plain JAX and PyTorch eager, same inputs.

At S2 = (B, n, d, M, L) = (32, 64, 4, 32, 32), in float64 and float32, three implementations of
the same network and risk (``_models``) are timed **interleaved in one run** (one call of each per
round; ratios are medians of per-round ratios):

* the package: ``mft.forward`` and ``mft.cot_gradient`` (``autodiff``, the default: ``jax.grad``
  through the checkpointed layer scan; and ``exact``, the discrete adjoint);
* (a) plain JAX: a Python loop over layers, ``vmap`` over heads, ``jax.grad``, no checkpointing
  (jitted);
* (b) PyTorch eager with autograd, ``torch.set_num_threads`` = JAX's thread count (skipped, with
  a message, when torch is not installed: ``pip install -e '.[bench]'``).

Before timing, results are checked equal: the risk, ``L M ∇_A R`` and ``L M ∇_V R`` to 1e-12
(relative, float64; 1e-4 in float32). Targets (issue 14): forward+gradient at least 1.5x faster
than PyTorch and 3x faster than plain JAX. A profile (per-layer kernels at S2) says where the
time goes.

    python benchmarks/peers.py            # about three minutes on 2 cores
    python benchmarks/peers.py --quick    # tiny sizes, seconds (tests)

Writes ``benchmarks/results/peers.json``.
"""

import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp

import mftransformer as mft

mft.configure()

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _common, _models beside it
import _common as common  # noqa: E402
import _models as models  # noqa: E402

TARGETS = {"torch": 1.5, "plain": 3.0}
TOLERANCE = {"float64": 1e-12, "float32": 1e-4}
DTYPES = {"float64": jnp.float64, "float32": jnp.float32}
QUICK_SIZE = {"B": 2, "n": 8, "d": 4, "M": 2, "L": 3}


def first_call(fn) -> tuple[object, float]:
    """``(result, seconds)`` of the first call: compilation included."""
    start = time.perf_counter()
    out = common.ready(fn())
    return out, time.perf_counter() - start


def compare(size: dict, dtype, dname: str, repeats: int, torch) -> dict:
    arrays = models.instance(**size, dtype=dtype)
    L, M = size["L"], size["M"]
    th, mu, xi, tg = models.jax_inputs(arrays)
    ours = models.mft_programs()
    plain = models.plain_programs()
    pa = models.plain_args(arrays)
    programs = {
        "mft forward": lambda: ours["forward"](th, mu, xi, tg),
        "mft gradient (autodiff)": lambda: ours["autodiff"](th, mu, xi, tg),
        "mft gradient (exact)": lambda: ours["exact"](th, mu, xi, tg),
        "plain JAX forward": lambda: plain["forward"](*pa),
        "plain JAX gradient": lambda: plain["gradient"](*pa),
    }
    if torch is not None:
        tp = models.torch_programs(torch, arrays)
        programs["PyTorch forward"] = tp["forward"]
        programs["PyTorch gradient"] = tp["gradient"]

    first, outputs = {}, {}
    for name, fn in programs.items():
        outputs[name], first[name] = first_call(fn)

    # agreement: the package's autodiff gradient is the reference
    to_np = lambda v: v.numpy() if hasattr(v, "numpy") else v  # noqa: E731
    ref = models.mft_grad_arrays(outputs["mft gradient (autodiff)"])
    ref_z = outputs["mft forward"]
    agreement = {
        "mft gradient (exact)": models.grad_agreement(
            models.mft_grad_arrays(outputs["mft gradient (exact)"]), ref
        ),
        "plain JAX gradient": models.grad_agreement(
            models.plain_grad_arrays(outputs["plain JAX gradient"], L, M), ref
        ),
        "plain JAX forward": models.max_rel(outputs["plain JAX forward"], ref_z),
    }
    if torch is not None:
        agreement["PyTorch gradient"] = models.grad_agreement(
            models.torch_grad_arrays(outputs["PyTorch gradient"], L, M), ref
        )
        agreement["PyTorch forward"] = models.max_rel(to_np(outputs["PyTorch forward"]), ref_z)
    out_dtypes = {str(ref_z.dtype), str(outputs["mft gradient (autodiff)"][1].A.dtype)}
    if out_dtypes != {dname}:
        raise RuntimeError(f"peers: {dname} inputs gave {sorted(out_dtypes)} outputs")
    worst = max(agreement.values())
    if worst > TOLERANCE[dname]:
        raise RuntimeError(
            f"peers: the implementations disagree in {dname}: {agreement} "
            f"(allowed {TOLERANCE[dname]})"
        )

    timings = common.interleaved(programs, repeats=repeats, warmup=0)
    ratios = {
        "plain JAX / mft, forward+gradient": common.ratio(
            timings, "plain JAX gradient", "mft gradient (autodiff)"
        ),
        "plain JAX / mft, forward": common.ratio(timings, "plain JAX forward", "mft forward"),
        "mft exact / mft autodiff": common.ratio(
            timings, "mft gradient (exact)", "mft gradient (autodiff)"
        ),
    }
    if torch is not None:
        ratios["PyTorch / mft, forward+gradient"] = common.ratio(
            timings, "PyTorch gradient", "mft gradient (autodiff)"
        )
        ratios["PyTorch / mft, forward"] = common.ratio(timings, "PyTorch forward", "mft forward")
    return {
        "dtype": dname,
        "first_call_s": first,
        "agreement": agreement,
        "tolerance": TOLERANCE[dname],
        "timings": {
            k: {"median_s": v["median_s"], "min_s": v["min_s"]} for k, v in timings.items()
        },
        "ratios": ratios,
    }


# ---------------------------------------------------------------- where the time goes
def profile(size: dict, dtype, repeats: int, timed: dict) -> dict:
    """Per-layer kernels at ``size``, each jitted alone (so each writes its result to memory, as
    the unfused dense pipeline does): the queries and scores contraction, the softmax, the tilted
    mean and output contraction, the whole layer field (``mft.field``) and its backward
    (``jax.vjp`` of ``mft.field``; its time minus the field's). ``× L`` they model the programs,
    whose times ``timed`` (from :func:`compare`, the same run) are put beside them."""
    arrays = models.instance(**size, dtype=dtype)
    n, M, L = size["n"], size["M"], size["L"]
    A, V = jnp.asarray(arrays["A"][0]), jnp.asarray(arrays["V"][0])
    x, a = jnp.asarray(arrays["x"]), jnp.asarray(arrays["a"])
    z = jnp.concatenate([x, jnp.asarray(arrays["xi"])[:, None]], axis=1)
    loga = jnp.log(a)

    scores = jax.jit(
        lambda A, z, x, loga: (
            jnp.einsum("bmki,bni->bmkn", jnp.einsum("mij,bkj->bmki", A, z), x)
            + loga[:, None, None, :]
        )
    )
    softmax = jax.jit(lambda s: jax.nn.softmax(s, axis=-1))
    mean_out = jax.jit(
        lambda w, x, V: jnp.einsum("mij,bmkj->bki", V, jnp.einsum("bmkn,bni->bmki", w, x)) / M
    )

    def layer_field(A, V, z):
        return mft.field(A, V, mft.EmpiricalMeasure(z[:, :n], a), z)

    field = jax.jit(layer_field)
    lam = jnp.ones_like(z)

    @jax.jit
    def field_vjp(A, V, z, lam):
        _, pull = jax.vjp(layer_field, A, V, z)
        return pull(lam)

    s = common.ready(scores(A, z, x, loga))
    w = common.ready(softmax(s))
    parts = {
        "scores: A z, then <A z_k, x_j> + log a_j": lambda: scores(A, z, x, loga),
        "softmax over keys": lambda: softmax(s),
        "tilted mean sum_j w_kj x_j, then V m": lambda: mean_out(w, x, V),
        "layer field (mft.field, fused by XLA)": lambda: field(A, V, z),
        "layer field + backward (jax.vjp of mft.field)": lambda: field_vjp(A, V, z, lam),
    }
    timings = common.interleaved(parts, repeats=repeats)
    per_layer = {k: v["median_s"] for k, v in timings.items()}
    fwd = per_layer["layer field (mft.field, fused by XLA)"]
    bwd = per_layer["layer field + backward (jax.vjp of mft.field)"] - fwd
    model = {
        "forward: L x field": L * fwd,
        "forward: measured": timed["mft forward"]["median_s"],
        "forward+gradient: L x (2 field + backward)": L * (2 * fwd + bwd),
        "forward+gradient: measured": timed["mft gradient (autodiff)"]["median_s"],
    }
    out = {"per_layer_s": per_layer, "backward_per_layer_s": bwd, "model_s": model, "L": L}
    if "PyTorch gradient" in timed:
        f, g = timed["PyTorch forward"]["median_s"], timed["PyTorch gradient"]["median_s"]
        out["torch"] = {"forward_s": f, "gradient_s": g, "backward_share": 1 - f / g}
    p = timed["plain JAX forward"]["median_s"], timed["plain JAX gradient"]["median_s"]
    out["plain"] = {"forward_s": p[0], "gradient_s": p[1], "backward_share": 1 - p[0] / p[1]}
    return out


def run(quick: bool = False) -> dict:
    size = QUICK_SIZE if quick else models.SIZES["S2"]
    repeats = 3 if quick else 4  # rounds of all seven programs: about 45 s of each dtype at S2
    torch = models.torch_module()
    threads = common.cores()
    if torch is not None:
        torch.set_num_threads(threads)
    results = [compare(size, dt, dn, repeats, torch) for dn, dt in DTYPES.items()]
    profiles = {
        r["dtype"]: profile(size, DTYPES[r["dtype"]], repeats, r["timings"]) for r in results
    }

    findings = []
    for r in results:
        for peer, target in TARGETS.items():
            key = ("PyTorch" if peer == "torch" else "plain JAX") + " / mft, forward+gradient"
            if key not in r["ratios"]:
                findings.append(f"{r['dtype']}: PyTorch not installed, comparison skipped")
                continue
            got = r["ratios"][key]
            verdict = "met" if got >= target else f"NOT met ({target / got:.2f}x short)"
            findings.append(
                f"{r['dtype']}: mft forward+gradient is {got:.2f}x faster than "
                f"{key.split(' /')[0]} (target >= {target}x: {verdict})"
            )
    return {
        "title": "Against what a user would write instead",
        "quick": quick,
        "size": size,
        "threads": {"jax": threads, "torch": torch.get_num_threads() if torch else None},
        "torch_available": torch is not None,
        "targets": TARGETS,
        "results": results,
        "profile": profiles,
        "findings": findings,
        "tables": tables(size, results, profiles),
    }


def tables(size, results, profiles) -> list[dict]:
    shape = f"(B, n, d, M, L) = ({size['B']}, {size['n']}, {size['d']}, {size['M']}, {size['L']})"
    names = list(results[0]["timings"])
    timing_rows = []
    for name in names:
        row = [name]
        for r in results:
            row += [r["timings"][name]["median_s"] * 1e3, r["first_call_s"][name]]
            row.append(r["agreement"].get(name, 0.0 if "mft" in name else None))
        timing_rows.append(row)
    header = ["program"]
    for r in results:
        header += [f"{r['dtype']} median ms", "first call s", "rel. diff"]
    ratio_rows = [[k] + [r["ratios"].get(k) for r in results] for k in results[0]["ratios"]]
    prof_rows = []
    for k in profiles["float64"]["per_layer_s"]:
        prof_rows.append([k] + [profiles[d]["per_layer_s"][k] * 1e3 for d in profiles])
    prof_rows.append(
        ["backward alone (vjp minus field)"]
        + [p["backward_per_layer_s"] * 1e3 for p in profiles.values()]
    )
    whole_rows = [
        [k] + [p["model_s"][k] * 1e3 for p in profiles.values()]
        for k in profiles["float64"]["model_s"]
    ]
    for peer, label in (("plain", "plain JAX"), ("torch", "PyTorch")):
        if peer in profiles["float64"]:
            whole_rows.append(
                [f"{label}: share of forward+gradient spent after the forward"]
                + [p[peer]["backward_share"] for p in profiles.values()]
            )
    return [
        {
            "title": f"Timings at {shape}, interleaved in one run",
            "header": header,
            "rows": timing_rows,
            "note": "rel. diff: largest relative difference from the package's autodiff gradient "
            "(risk, L M grad A, L M grad V) or forward states.",
        },
        {
            "title": "Speed-ups of the package (medians of per-round ratios; > 1: the package "
            "is faster)",
            "header": ["ratio"] + [r["dtype"] for r in results],
            "rows": ratio_rows,
        },
        {
            "title": "Where the time goes: one layer's kernels at this size, ms (each jitted "
            "alone, so each writes its output to memory)",
            "header": ["kernel"] + list(profiles),
            "rows": prof_rows,
        },
        {
            "title": "The programs modelled from the kernels (ms) and the peers' backward shares",
            "header": ["quantity"] + list(profiles),
            "rows": whole_rows,
        },
    ]


def main(argv=None):
    return common.cli("peers", run, __doc__, argv)


if __name__ == "__main__":
    main(sys.argv[1:])

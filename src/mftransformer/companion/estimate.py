r"""The cost model: memory peak and time of each experiment, on this CPU and on a named GPU.

``python -m mftransformer estimate --chapter NN --params full``. Each experiment is a list of
*passes* (:class:`~.passes.Pass`: a forward or a forward+gradient of the network at sizes
``B, n, d, M, L``, repeated ``count`` times, ``parallel`` of them in one vmapped program), listed
per chapter by :data:`~.passes.PASSES` from its parameter section. A pass's work is
:func:`layer_cost` times its layers and stages (Heun 2, RK4 4 field evaluations per layer), the
count of the Performance page (:data:`COST_MODEL`; ``benchmarks/machine.py`` times against it).

Time of a pass = ``bound / fraction + calls · L · stages · t_layer``: ``bound`` the time the slowest
resource needs (flops / matmul peak, bytes / bandwidth, exps / exp throughput), ``fraction`` the
fraction of the bound the solver reaches at the largest benchmarked size, ``t_layer`` the fixed
cost of one layer step of a compiled scan (what the small sizes measure beyond their bound).
On the CPU all four come from ``benchmarks/results/machine.json`` (measured on this machine);
for a GPU from ``benchmarks/results/machine-gpu.json`` when present (the same benchmark run on
one), otherwise from the published data sheet:

- **NVIDIA H200 SXM** (NVIDIA H200 Tensor Core GPU data sheet, nvidia.com/en-us/data-center/h200):
  float64 34 TFLOP/s (vector; the 67 TFLOP/s of the tensor cores need matrix shapes that
  :math:`d \le 8` contractions do not have), float32 67 TFLOP/s, HBM3e 4.8 TB/s, 141 GB.
  ``exp``: float32 on the special-function units, 132 SMs × 16 per clock × 1.98 GHz
  = 4.2·10¹² /s (CUDA C++ Programming Guide, arithmetic instruction throughput, compute
  capability 9.0); float64 ``exp`` is a polynomial in software, about 20 flops: 1.7·10¹² /s.
  Assumed (no GPU measurement yet): the CPU's measured fraction of the bound, and 15 µs per
  layer step forward, 45 µs forward+gradient (a scan step is a handful of kernel launches).

Memory peak: the largest pass's live set, ``parallel`` times (weights ``w`` of one layer, three
tensors of that size under the gradient: ``w``, its recomputation, its cotangent; ``keep`` layers
of them for an unchecked ``jax.grad``), the states at every layer (trajectory, checkpoints) and the
heads (three copies under the gradient: :math:`\theta`, the gradient, the step). Dense attention is
assumed: a streaming attention keeps the weights linear in ``n`` and lowers the peak.
Not counted: compilation (seconds per program), Python between programs beyond ``CALL_S`` per
call, and the small linear algebra of the NTK chapters (eigenvalues, SVDs).
"""

import dataclasses
import json
import os
from pathlib import Path

from .passes import COST_MODEL, PASSES, Pass, layer_cost

__all__ = [
    "COST_MODEL",
    "H200",
    "CALL_S",
    "Pass",
    "Machine",
    "layer_cost",
    "cpu_machine",
    "gpu_machine",
    "results_dir",
    "pass_time",
    "pass_memory",
    "PASSES",
    "estimate",
    "chapter_seconds",
    "format_rows",
]

#: Published peaks of the NVIDIA H200 SXM (sources in the module docstring).
H200 = {
    "name": "NVIDIA H200 SXM (data sheet)",
    "memory_bytes": 141e9,
    "float64": {"matmul_flops_per_s": 34e12, "bandwidth_bytes_per_s": 4.8e12, "exp_per_s": 1.7e12},
    "float32": {"matmul_flops_per_s": 67e12, "bandwidth_bytes_per_s": 4.8e12, "exp_per_s": 4.2e12},
    "layer_s": {"forward": 15e-6, "gradient": 45e-6},
}
#: Seconds of Python and dispatch per separate program call (``float(...)``, ``np.asarray``).
CALL_S = 1e-4
PROGRAMS = {"forward": "forward", "gradient": "forward+gradient"}


@dataclasses.dataclass(frozen=True)
class Machine:
    """Peaks per dtype, the fraction of the bound reached and the cost of a layer step per
    program (``"forward"``, ``"gradient"``), and the memory; ``source`` says where they are from."""

    name: str
    peaks: dict
    fraction: dict
    layer_s: dict
    memory_bytes: float
    source: str


def results_dir() -> Path:
    """``benchmarks/results`` of the checkout (searched from the working directory, then here)."""
    for base in [Path.cwd(), *Path.cwd().parents, *Path(__file__).resolve().parents]:
        if (base / "benchmarks" / "results").is_dir():
            return base / "benchmarks" / "results"
    return Path.cwd() / "benchmarks" / "results"


def _calibration(report: dict, dtype: str) -> tuple[dict, dict]:
    """Fraction of the bound at the largest size, and the per-layer-step cost beyond it at the
    other sizes (median), per program, from a ``machine`` benchmark report."""
    fraction, layer_s = {}, {}
    for kind, program in PROGRAMS.items():
        rows = [r for r in report["rows"] if r["program"] == program and r["dtype"] == dtype]
        big = max(rows, key=lambda r: r["entries"])
        fraction[kind] = big["fraction_of_bound"]
        extra = sorted(
            max(r["seconds"] - r["bound_s"] / fraction[kind], 0.0) / r["L"]
            for r in rows
            if r is not big
        )
        layer_s[kind] = extra[len(extra) // 2] if extra else 0.0
    return fraction, layer_s


def _from_report(path: Path, name: str, memory: float, dtype: str) -> Machine:
    report = json.loads(path.read_text())
    fraction, layer_s = _calibration(report, dtype)
    peaks = {k: {q: v[q] for q in H200["float64"]} for k, v in report["peaks"].items()}
    where = f"{path.name} ({report.get('date', 'undated')})"
    return Machine(name, peaks, fraction, layer_s, memory, where)


def cpu_machine(dtype="float64", folder: Path | None = None) -> Machine:
    """This CPU, from ``machine.json`` (the machine benchmark, ``make bench``)."""
    path = (folder or results_dir()) / "machine.json"
    if not path.exists():
        raise RuntimeError(
            f"estimate: {path} is missing; run `python -m mftransformer bench machine`."
        )
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        memory = float("nan")
    cpu = json.loads(path.read_text()).get("machine", {}).get("cpu", "CPU")
    return _from_report(path, f"this CPU ({cpu})", float(memory), dtype)


def gpu_machine(dtype="float64", folder: Path | None = None) -> Machine:
    """The GPU of ``machine-gpu.json`` when present, otherwise the H200 of its data sheet (with
    this CPU's fraction of the bound: no GPU measured yet)."""
    folder = folder or results_dir()
    measured = folder / "machine-gpu.json"
    if measured.exists():
        kind = json.loads(measured.read_text()).get("machine", {}).get("device_kind", "GPU")
        return _from_report(measured, kind, H200["memory_bytes"], dtype)
    fraction = cpu_machine(dtype, folder).fraction
    peaks = {k: H200[k] for k in ("float64", "float32")}
    return Machine(
        H200["name"], peaks, fraction, H200["layer_s"], H200["memory_bytes"], "data sheet"
    )


def pass_time(ps: Pass, machine: Machine, dtype="float64") -> float:
    """Seconds of ``ps`` on ``machine`` (the module docstring's model)."""
    cost, peak = ps.cost(8 if dtype == "float64" else 4), machine.peaks[dtype]
    bound = max(
        cost["flops"] / peak["matmul_flops_per_s"],
        cost["bytes"] / peak["bandwidth_bytes_per_s"],
        cost["exps"] / peak["exp_per_s"],
    )
    fixed = ps.n_calls * (ps.L * ps.stages * machine.layer_s[ps.kind] + CALL_S)
    return bound / machine.fraction[ps.kind] + fixed


def pass_memory(ps: Pass, itemsize=8) -> int:
    """Peak bytes alive while ``ps`` runs (module docstring)."""
    grad = ps.kind == "gradient"
    w = ps.B * ps.M * (ps.n * ps.tokens + ps.queries) * ps.n * ps.stages
    states = (ps.L + 1) * ps.B * (ps.n + ps.queries) * ps.d * ps.stages
    heads = 2 * ps.L * ps.M * ps.d * ps.d
    return (
        ps.parallel
        * itemsize
        * (w * (3 if grad else 1) * ps.keep + states + heads * (3 if grad else 1))
    )


# ---------------------------------------------------------------- estimates
def estimate(chapter: str, params_set="full", overrides=None, *, dtype="float64") -> list[dict]:
    """One row per experiment of ``chapter``: its passes' score entries, memory peak (bytes) and
    seconds on this CPU and on the GPU of :func:`gpu_machine`."""
    from .params import load

    cfg = load(chapter, params_set, overrides)
    cpu, gpu = cpu_machine(dtype), gpu_machine(dtype)
    itemsize = 8 if dtype == "float64" else 4
    rows = []
    for field in dataclasses.fields(cfg.values):
        if field.name == "seed":
            continue
        passes = PASSES[chapter](field.name, getattr(cfg, field.name))
        rows.append(
            {
                "chapter": chapter,
                "experiment": field.name,
                "entries": sum(ps.cost(itemsize)["entries"] for ps in passes),
                "memory_bytes": max(pass_memory(ps, itemsize) for ps in passes),
                "cpu_s": sum(pass_time(ps, cpu, dtype) for ps in passes),
                "gpu_s": sum(pass_time(ps, gpu, dtype) for ps in passes),
                "cpu": cpu.name,
                "gpu": gpu.name,
            }
        )
    return rows


def chapter_seconds(chapters, params_set="full", overrides=None) -> dict:
    """``{chapter: estimated CPU seconds}`` (sum over its experiments)."""
    overrides = overrides or {}
    return {c: sum(r["cpu_s"] for r in estimate(c, params_set, overrides.get(c))) for c in chapters}


def _human(seconds: float | int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.2g} s"


def _bytes(b: float | int) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if b >= size:
            return f"{b / size:.3g} {unit}"
    return f"{b:.0f} B"


def format_rows(rows: list[dict]) -> str:
    """A plain-text table of :func:`estimate`'s rows, with a total line."""
    if not rows:
        return "(no experiments)"
    head = f"{'experiment':<28}{'score entries':>15}{'memory':>11}{'CPU':>11}{'GPU':>11}"
    lines = [head, "-" * len(head)]
    for r in rows:
        name = f"{r['chapter']}.{r['experiment']}"
        lines.append(
            f"{name:<28}{r['entries']:>15.3g}{_bytes(r['memory_bytes']):>11}"
            f"{_human(r['cpu_s']):>11}{_human(r['gpu_s']):>11}"
        )
    cpu, gpu = sum(r["cpu_s"] for r in rows), sum(r["gpu_s"] for r in rows)
    peak = max(r["memory_bytes"] for r in rows)
    lines.append(f"{'total':<28}{'':>15}{_bytes(peak):>11}{_human(cpu):>11}{_human(gpu):>11}")
    lines.append(f"CPU: {rows[0]['cpu']}; GPU: {rows[0]['gpu']}. Compilation not included.")
    return "\n".join(lines)

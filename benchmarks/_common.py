"""What every benchmark shares: timing, the machine and versions it ran on, the JSON it writes.

Not a benchmark itself (``python -m mftransformer bench`` skips files whose name starts with
``_``). Rules kept here once:

* time compiled calls with ``jax.block_until_ready`` (PyTorch: its result is a CPU tensor, ready
  when the call returns), the first call (compilation, caches) excluded, and report **medians**;
* a comparison runs its programs **interleaved**, one call of each per round, so that a ratio is
  taken between calls a few milliseconds apart (the machine is shared; its load changes);
* a result is one JSON file per benchmark, ``benchmarks/results/<name>.json``, written atomically,
  with the machine, the package versions, the date and the git commit (:func:`provenance`).
"""

import datetime
import json
import os
import platform
import statistics
import sys
import time
from importlib import metadata
from pathlib import Path

import jax

from mftransformer.companion.files import atomic_write, git

RESULTS = Path(__file__).resolve().parent / "results"


def load_average() -> list[float] | None:
    """The machine's 1-, 5- and 15-minute load averages (a shared machine's other work)."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


_LOAD_AT_START = load_average()


# ---------------------------------------------------------------- timing
def ready(value):
    """Wait for ``value`` (a JAX pytree; anything else is returned as it is)."""
    return jax.block_until_ready(value)


def median_time(fn, *args, repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time (s) of ``fn(*args)`` over ``repeats`` calls, after ``warmup`` calls."""
    for _ in range(warmup):
        ready(fn(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        ready(fn(*args))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved(programs: dict, repeats: int, warmup: int = 1) -> dict:
    """Time zero-argument callables side by side: ``repeats`` rounds, one call of each per round.

    Returns ``{name: {"median_s", "min_s", "times_s"}}``. Use :func:`ratio` for their ratios.
    """
    for fn in programs.values():
        for _ in range(warmup):
            ready(fn())
    times = {name: [] for name in programs}
    for _ in range(repeats):
        for name, fn in programs.items():
            start = time.perf_counter()
            ready(fn())
            times[name].append(time.perf_counter() - start)
    return {
        name: {"median_s": statistics.median(t), "min_s": min(t), "times_s": t}
        for name, t in times.items()
    }


def ratio(timings: dict, slow: str, fast: str) -> float:
    """``slow / fast`` as the median over rounds of the per-round ratio (both timed in the same
    round of :func:`interleaved`, so a change of load between rounds cancels)."""
    pairs = zip(timings[slow]["times_s"], timings[fast]["times_s"], strict=True)
    return statistics.median(s / f for s, f in pairs)


# ---------------------------------------------------------------- where and when
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cores() -> int:
    """CPU cores this process may use (its affinity mask), which is what XLA's thread pool sizes
    itself to on CPU."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def versions() -> dict:
    """Versions of the numerical packages (``None`` where one is not installed)."""
    out = {"python": platform.python_version()}
    for name in ("mftransformer", "jax", "jaxlib", "numpy", "torch"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def provenance() -> dict:
    """The machine, the versions, the date (UTC) and the commit a measurement was taken at."""
    device = jax.devices()[0]
    preload = os.environ.get("LD_PRELOAD", "")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {
        "machine": {
            "cpu": cpu_model(),
            "cores": cores(),
            "platform": platform.platform(),
            "device_platform": device.platform,
            "device_kind": device.device_kind,
            "devices": len(jax.devices()),
            "allocator": "tcmalloc" if "tcmalloc" in preload else "default",
            "load_average_start": _LOAD_AT_START,
            "load_average_end": load_average(),
        },
        "versions": versions(),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": git("rev-parse", "HEAD"),
        "dirty": bool(status) if status is not None else None,
        "argv": sys.argv[1:],
    }


def write(name: str, report: dict, out: Path | str | None = None) -> Path:
    """Write ``report`` with :func:`provenance` to ``out``, atomically; returns the path.

    The default is ``benchmarks/results/<name>.json`` on CPU and ``<name>-<platform>.json`` on
    an accelerator (``machine-gpu.json``), so a GPU run adds its file beside the CPU one."""
    platform_ = jax.devices()[0].platform
    suffix = "" if platform_ == "cpu" else f"-{platform_}"
    path = Path(out) if out is not None else RESULTS / f"{name}{suffix}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"benchmark": name, **provenance(), **report}
    atomic_write(path, json.dumps(body, indent=2, sort_keys=True, default=float) + "\n")
    return path


def table(header: list[str], rows: list[list], floatfmt: str = ".3g") -> str:
    """A plain-text table (the same rows go to the JSON and to the page)."""

    def cell(v):
        if isinstance(v, float):
            return format(v, floatfmt)
        return "-" if v is None else str(v)

    cells = [[cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(header)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(lines)


def cli(name: str, run, doc: str, argv=None) -> dict:
    """The command line every benchmark shares: ``--quick`` (tiny sizes) and ``--out``; prints
    each table and the findings of ``run(quick)`` and writes ``results/<name>.json``."""
    import argparse

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (seconds)")
    parser.add_argument("--out", default=None, help="JSON path (default benchmarks/results/)")
    args = parser.parse_args(argv)
    report = run(args.quick)
    for t in report["tables"]:
        print(f"\n{t['title']}\n{table(t['header'], t['rows'])}")
    print("\n" + "\n".join(report["findings"]))
    print(f"wrote {write(name, report, args.out)}")
    return report

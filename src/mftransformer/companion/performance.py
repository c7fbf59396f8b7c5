"""The Performance page, generated from the benchmarks' JSON (``benchmarks/results/*.json``).

``make bench`` (``python -m mftransformer bench``) runs ``benchmarks/*.py``; each writes one JSON
file with the machine, the package versions, the date and the commit it was measured at, its
``findings`` (one line each: a target met or not, a fitted exponent) and its ``tables``
(``{"title", "header", "rows", "note"}``, the same rows it printed). This module only reads them:
nothing is measured at book build time, so the page shows what was measured, where and when.
A run on another device adds a file (``machine-gpu.json``), shown beside the CPU one.

:func:`performance_page` returns the MyST text; :func:`write_page` writes it (and, when matplotlib
is there, the scaling figure drawn from the JSON) under the book's ``_generated/`` folder.
"""

import io
import json
import warnings
from pathlib import Path

from .files import atomic_write

__all__ = ["performance_page", "write_page", "read_results", "ORDER"]

#: Benchmarks in page order; others follow alphabetically.
ORDER = ("machine", "peers", "scaling", "forward", "adjoint")
TITLES = {
    "machine": "Against the machine",
    "peers": "Against what a user would write instead",
    "scaling": "Scaling",
    "forward": "Forward-pass design choices",
    "adjoint": "Adjoint programs against depth",
}
_SPECIAL = set("\\`*_{}[]<>#|$~^!")


def read_results(results_dir: Path | str) -> tuple[list[dict], list[str]]:
    """``(reports, problems)``: every readable ``*.json`` of ``results_dir`` (each with its
    ``_file`` name), in page order, and one line per file that could not be read."""
    results_dir = Path(results_dir)
    reports, problems = [], []
    for path in sorted(results_dir.glob("*.json")) if results_dir.is_dir() else []:
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(report, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as exc:
            problems.append(f"{path.name}: not read ({exc})")
            warnings.warn(f"performance page: {path} not read ({exc})", stacklevel=2)
            continue
        report["_file"] = path.name
        report.setdefault("benchmark", path.stem.split("-")[0])
        reports.append(report)

    def key(r):
        name = r["benchmark"]
        rank = ORDER.index(name) if name in ORDER else len(ORDER)
        platform = r.get("machine", {}).get("device_platform", "cpu")
        return (rank, name, platform != "cpu", r["_file"])

    return sorted(reports, key=key), problems


def performance_page(results_dir: Path | str, figure_dir: Path | str | None = None) -> str:
    """The Performance page (MyST markdown) from the JSON files in ``results_dir``.

    Args:
        results_dir: the folder of ``<benchmark>.json`` files (``benchmarks/results``).
        figure_dir: where to draw the figures (PNG, matplotlib); the page refers to them as
            ``<figure_dir name>/<file>``, so write the page into ``figure_dir``'s parent. None:
            tables only.

    Returns:
        the page's text; a page that says how to make the results when there are none.
    """
    reports, problems = read_results(results_dir)
    lines = [
        "# Performance",
        "",
        "Measured by `make bench` (`python -m mftransformer bench [NAME]`, the scripts in "
        "`benchmarks/`), which writes one JSON file per benchmark and machine to "
        "`benchmarks/results/`; this page is generated from those files at book build time and "
        "measures nothing itself. Times are medians of repeated calls of compiled programs, "
        "waited for with `block_until_ready`; a ratio is the median of per-round ratios of "
        "programs timed interleaved in one run, so that the load of a shared machine cancels.",
        "",
    ]
    if not reports:
        lines += [
            "No benchmark results yet: run `make bench` and commit `benchmarks/results/*.json`.",
            "",
        ]
    for problem in problems:
        lines += [f"- {_text(problem)}"]
    if problems:
        lines.append("")
    current = None
    for report in reports:
        name = report["benchmark"]
        if name != current:
            current = name
            lines += [f"## {_text(TITLES.get(name, report.get('title', name)))}", ""]
        lines += _report_section(report, figure_dir)
    return "\n".join(lines).rstrip() + "\n"


def write_page(book_dir: Path | str, results_dir: Path | str | None = None) -> Path:
    """Write ``<book_dir>/_generated/performance.md`` (figures in ``_generated/performance/``)
    from ``results_dir`` (default ``benchmarks/results`` beside the book); returns its path."""
    book_dir = Path(book_dir)
    results_dir = (
        Path(results_dir) if results_dir is not None else book_dir.parent / "benchmarks" / "results"
    )
    out = book_dir / "_generated"
    figures = out / "performance"
    figures.mkdir(parents=True, exist_ok=True)
    text = performance_page(results_dir, figures)
    page = out / "performance.md"
    if not page.exists() or page.read_text(encoding="utf-8") != text:
        atomic_write(page, text)
    return page


# ---------------------------------------------------------------- private
def _report_section(report: dict, figure_dir) -> list[str]:
    machine = report.get("machine", {})
    versions = report.get("versions", {})
    platform = machine.get("device_platform", "cpu")
    if platform == "cpu":
        where = f"{machine.get('cpu', 'unknown CPU')}, {machine.get('cores', '?')} cores"
    else:
        where = machine.get("device_kind") or "unknown device"
    lines = [f"### {_text(platform.upper())}: {_text(where)}", ""]
    facts = []
    if machine:
        facts.append(
            f"machine: {_text(machine.get('cpu', '?'))}, {machine.get('cores', '?')} cores, "
            f"{_text(machine.get('platform', '?'))}, device {_text(platform)} "
            f"({_text(machine.get('device_kind', '?'))}), "
            f"allocator {_text(machine.get('allocator', '?'))}"
        )
    start, end = machine.get("load_average_start"), machine.get("load_average_end")
    if start and end:
        facts.append(
            f"load average (1 min) {start[0]:.1f} at the start and {end[0]:.1f} at the end, on "
            f"{machine.get('cores', '?')} cores (other work on a shared machine slows the "
            "timings; ratios taken side by side are the robust numbers)"
        )
    if versions:
        facts.append(
            "versions: "
            + ", ".join(f"{_text(k)} {_text(v)}" for k, v in versions.items() if v is not None)
            + ("" if versions.get("torch") else " (no PyTorch)")
        )
    commit = report.get("commit")
    facts.append(
        f"date {_text(report.get('date', 'unknown'))}, commit "
        + (f"`{commit[:12]}`" if commit else "unknown")
        + (" with uncommitted changes" if report.get("dirty") else "")
        + f", file `{report['_file']}`"
        + (" (quick sizes, not a measurement)" if report.get("quick") else "")
    )
    lines += [f"- {f}" for f in facts] + [""]
    findings = report.get("findings") or []
    if findings:
        lines += ["**Findings.**", ""] + [f"- {_text(f)}" for f in findings] + [""]
    if report["benchmark"] == "scaling" and figure_dir is not None:
        lines += _scaling_figure(report, Path(figure_dir))
    for table in report.get("tables") or []:
        lines += _table(table)
    return lines


def _table(table: dict) -> list[str]:
    header, rows = table.get("header") or [], table.get("rows") or []
    if not header:
        return []
    lines = [f"**{_text(table.get('title', ''))}**", ""] if table.get("title") else []
    lines.append("| " + " | ".join(_text(h) for h in header) + " |")
    numeric = [
        all(isinstance(r[i], int | float) or r[i] is None for r in rows if i < len(r))
        for i in range(len(header))
    ]
    lines.append("|" + "|".join("--:" if num else "---" for num in numeric) + "|")
    for row in rows:
        cells = [_cell(v) for v in row] + [""] * (len(header) - len(row))
        lines.append("| " + " | ".join(cells[: len(header)]) + " |")
    lines.append("")
    if table.get("note"):
        lines += [_text(table["note"]), ""]
    return lines


def _cell(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:  # NaN
            return "–"
        if 1e3 <= abs(value) < 1e9:
            return f"{value:.0f}"
        return f"{value:.3g}"
    return _text(value)


def _text(value) -> str:
    """``value`` as Markdown text: every character Markdown or MyST could read as syntax is
    escaped (a backslash before ASCII punctuation is always literal in CommonMark)."""
    return "".join("\\" + c if c in _SPECIAL else c for c in str(value)).replace("\n", " ")


def _scaling_figure(report: dict, figure_dir: Path) -> list[str]:
    """Log-log time against each varied size, with the fitted exponents; [] without matplotlib
    or without the data."""
    times = report.get("time")
    if not times:
        return []
    try:
        from matplotlib.figure import Figure  # no pyplot: no global state, no backend to pick
        from matplotlib.ticker import NullLocator
    except ImportError:
        return []
    preferred = ["n", "M", "L", "B"]
    axes_names = [a for a in preferred if a in times] + sorted(set(times) - set(preferred))
    fig = Figure(figsize=(2.6 * len(axes_names), 2.6))
    axes = fig.subplots(1, len(axes_names), squeeze=False)[0]
    for ax, name in zip(axes, axes_names, strict=True):
        sweep = times[name]
        xs = [r[name] for r in sweep["rows"]]
        for key, label, marker in (("forward", "forward", "o"), ("autodiff", "fwd+grad", "s")):
            ys = [r[key] for r in sweep["rows"]]
            slope = sweep.get("exponent_forward" if key == "forward" else "exponent_gradient")
            ax.loglog(xs, ys, marker=marker, ms=3, lw=1, label=f"{label}: {slope:.2f}")
        ax.set_xticks(xs, [str(x) for x in xs])
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlabel(name)
        ax.set_title(f"expected {sweep.get('expected', '?')}", fontsize=8)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("seconds")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    platform = report.get("machine", {}).get("device_platform", "cpu")
    name = f"scaling-{platform}.png"
    figure_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(figure_dir / name, buf.getvalue())
    alt = "Time against n, M, L and B on log-log axes, with the fitted exponents"
    return [f"![{alt}]({figure_dir.name}/{name})", ""]

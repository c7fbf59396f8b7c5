"""Command line: ``python -m mftransformer run|book|figures|build|bench|reproduce|estimate|sweep``.

The Makefile calls these.

Examples::

    python -m mftransformer run --chapter 03 --params ci
    python -m mftransformer run --chapter 01 --set forward.depth.Ls=[4,8,16]
    python -m mftransformer book --params full
    python -m mftransformer reproduce book/_static/figures/ch1-depth-rate.json
    python -m mftransformer estimate --chapter 03 --params full
    python -m mftransformer sweep --chapter 03 --params full --experiment meanfield --seeds 8 \
        --executor slurm --partition gpu
"""

import argparse
import signal
import sys

import yaml


def main(argv=None) -> int:
    """Run the command line; returns the exit code (0 done, 2 refused input, 1 failed run).
    A refused input prints one line, no traceback, unless ``--debug`` is given."""
    args = _parser().parse_args(argv)
    # SIGTERM ends the run through SystemExit, so that every ``finally`` runs: the kernel is shut
    # down and the staging folder removed; nothing half-written reaches the book.
    signal.signal(signal.SIGTERM, _terminate)

    import mftransformer as mft

    mft.configure()
    from ..solver.errors import ParameterError

    try:
        _dispatch(args)
    except (ParameterError, yaml.YAMLError) as exc:
        if args.debug:
            raise
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _terminate(signum, frame):
    print("error: terminated (SIGTERM); nothing was installed from this run.", file=sys.stderr)
    sys.exit(128 + signum)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mftransformer",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of refused input")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("run", "execute chapters into book/chapters/"),
        ("figures", "execute all chapters (writes every figure)"),
        ("book", "execute all chapters and build the HTML site"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("--params", default="ci", help="parameter set: notebooks/params/<name>.yaml")
        p.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="CHAPTER.KEY=VALUE",
            help="override one parameter (value in YAML syntax); repeatable",
        )
        p.add_argument(
            "--force", action="store_true", help="re-execute even chapters found in the cache"
        )
        p.add_argument(
            "--yes", action="store_true", help="start even when estimated above an hour on a CPU"
        )
        if name == "run":
            p.add_argument("--chapter", default="all", help="01..05, a name, a comma list, or all")
    sub.add_parser("build", help="build the HTML site from the executed chapters")
    p = sub.add_parser("bench", help="run benchmarks/*.py")
    p.add_argument("names", nargs="*")
    p = sub.add_parser("reproduce", help="recompute one figure from its provenance file")
    p.add_argument("provenance", help="book/_static/figures/<id>.json, or a figure id")
    _add_estimate_and_sweep(sub)
    return parser


def _add_estimate_and_sweep(sub) -> None:
    for name, text in (
        ("estimate", "memory peak and time of each experiment, on this CPU and a GPU"),
        ("sweep", "run one experiment over seeds x sizes into the results store"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument(
            "--chapter", default="all" if name == "estimate" else None, required=name == "sweep"
        )
        p.add_argument(
            "--params", default="full", help="parameter set: notebooks/params/<name>.yaml"
        )
        p.add_argument("--set", action="append", default=[], metavar="CHAPTER.KEY=VALUE")
    p.add_argument("--experiment", required=True, help="the experiment (its parameter section)")
    p.add_argument("--seeds", type=int, default=1, help="seeds base .. base + K - 1")
    p.add_argument(
        "--vary",
        action="append",
        default=[],
        metavar="SECTION.KEY=[V1,V2]",
        help="one swept parameter and its values (YAML list); repeatable: the product",
    )
    p.add_argument("--executor", default="local", choices=["local", "slurm", "submitit-local"])
    p.add_argument("--jobs", type=int, default=1, help="local: worker processes")
    p.add_argument("--partition", default=None, help="slurm: the partition")
    p.add_argument("--timeout-min", type=int, default=240, help="slurm: minutes per task")
    p.add_argument(
        "--store", default=None, help="results store (default book/_build/cache/results)"
    )


def _dispatch(args) -> None:
    from . import pipeline

    if args.command == "bench":
        pipeline.bench(args.names)
    elif args.command == "build":
        print(f"site: {pipeline.build()}")
    elif args.command == "reproduce":
        from .reproduce import reproduce

        outcome = reproduce(args.provenance)
        print(outcome)
        if not outcome.ok:
            raise RuntimeError(f"{outcome.fig_id} was not reproduced exactly (see above).")
    elif args.command in ("estimate", "sweep"):
        _estimate_or_sweep(args, pipeline)
    else:
        overrides = _parse_sets(args.set)
        chapters = pipeline.resolve_chapters(getattr(args, "chapter", "all"))
        pipeline.budget(chapters, args.params, overrides, yes=args.yes)
        if args.command == "book":
            index = pipeline.book(args.params, overrides, force=args.force)
            print(f"\nThe book is built: open {index.relative_to(pipeline.repo_root())}")
        else:
            for outcome in pipeline.run(
                chapters, args.params, overrides, force=args.force
            ).values():
                print(outcome)


def _estimate_or_sweep(args, pipeline) -> None:
    overrides = _parse_sets(args.set)
    if args.command == "estimate":
        from .estimate import estimate, format_rows

        chapters = pipeline.resolve_chapters(args.chapter)
        rows = [r for c in chapters for r in estimate(c, args.params, overrides.get(c))]
        print(format_rows(rows))
        return
    from .sweep import sweep

    (chapter,) = pipeline.resolve_chapters(args.chapter)
    fixed = overrides.pop(chapter, {})
    vary = _parse_sets([f"{chapter}.{item}" for item in args.vary]).get(chapter, {})
    for key, values in vary.items():
        if not isinstance(values, list) or not values:
            from ..solver.errors import ParameterError

            raise ParameterError(
                f"sweep: --vary {key}={values!r}; allowed a YAML list, e.g. [4, 8]."
            )
    out = sweep(
        chapter,
        args.experiment,
        args.params,
        fixed,
        seeds=args.seeds,
        vary=vary,
        executor=args.executor,
        jobs=args.jobs,
        store=args.store,
        **(
            {"partition": args.partition, "timeout_min": args.timeout_min}
            if args.executor == "slurm"
            else {}
        ),
    )
    failed = {k: v for k, v in out["outcome"].items() if str(v).startswith("failed")}
    for label, outcome in out["outcome"].items():
        print(f"{outcome:>8}  {label}")
    if failed:
        raise RuntimeError(
            f"sweep: {len(failed)} of {len(out['missing'])} tasks failed (see above)."
        )


def _parse_sets(items) -> dict:
    """``forward.depth.Ls=[4,8]`` -> ``{"forward": {"depth.Ls": [4, 8]}}``."""
    from ..solver.errors import ParameterError
    from .params import YamlLoader

    out: dict = {}
    for item in items:
        if "=" not in item or "." not in item.split("=", 1)[0]:
            raise ParameterError(
                f"--set {item!r}; allowed CHAPTER.KEY=VALUE, e.g. forward.depth.Ls=[4,8]."
            )
        key, value = item.split("=", 1)
        chapter, rest = key.split(".", 1)
        out.setdefault(chapter, {})[rest] = yaml.load(value, Loader=YamlLoader)
    return out

"""Command line: ``python -m mftransformer run|book|figures|build|bench|reproduce``.

The Makefile calls these.

Examples::

    python -m mftransformer run --chapter 03 --params ci
    python -m mftransformer run --chapter 01 --set forward.depth.Ls=[4,8,16]
    python -m mftransformer book --params full
    python -m mftransformer reproduce book/_static/figures/ch1-depth-rate.json
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
        if name == "run":
            p.add_argument("--chapter", default="all", help="01..05, a name, a comma list, or all")
    sub.add_parser("build", help="build the HTML site from the executed chapters")
    p = sub.add_parser("bench", help="run benchmarks/*.py")
    p.add_argument("names", nargs="*")
    p = sub.add_parser("reproduce", help="recompute one figure from its provenance file")
    p.add_argument("provenance", help="book/_static/figures/<id>.json, or a figure id")
    return parser


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
    else:
        overrides = _parse_sets(args.set)
        chapters = pipeline.resolve_chapters(getattr(args, "chapter", "all"))
        if args.command == "book":
            index = pipeline.book(args.params, overrides, force=args.force)
            print(f"\nThe book is built: open {index.relative_to(pipeline.repo_root())}")
        else:
            for outcome in pipeline.run(
                chapters, args.params, overrides, force=args.force
            ).values():
                print(outcome)


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

"""PROVIDED: the workbook's commands - `python -m lab --help` lists a learner's.

Maintainer commands, which write lab/ or notebooks/, are apart: `python -m lab dev --help`.
Imports are local, so that `--help` works even before the dependencies are installed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

NOTEBOOKS = ("notebooks", {"nargs": "*", "help": "default: every notebook"})


def flag(help: str) -> dict:
    return {"action": "store_true", "help": help}


def parser_of(prog: str, description: str, commands: dict, epilog: str | None = None):
    """A parser with one subcommand per entry of `commands`: {name: (help, *arguments)},
    each argument a (flags, options) pair for add_argument()."""
    parser = argparse.ArgumentParser(prog=prog, description=description, epilog=epilog)
    parsers = parser.add_subparsers(dest="command", required=True)
    for name, (help, *arguments) in commands.items():
        command = parsers.add_parser(name, help=help)
        for flags, options in arguments:
            command.add_argument(*flags.split(), **options)
    return parser, parsers


def experiment(parsers: argparse._SubParsersAction, name: str, module) -> argparse.ArgumentParser:  # noqa: ANN001
    """`name`'s parser: its module says its help, description (its docstring) and epilog."""
    parser = parsers.add_parser(
        name, help=module.HELP, description=module.__doc__.split("\n", 2)[2],
        epilog=module.EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    module.add_arguments(parser)
    return parser


def learner_parser() -> argparse.ArgumentParser:
    from lab.support.experiments.bench import abandoned, stats_cli, workers_cli
    from lab.support.experiments.bench import cli as bench_cli
    from lab.support.experiments.peers import cli as peers_cli
    from lab.support.experiments.soak import cli as soak_cli

    parser, parsers = parser_of(
        "python -m lab",
        "The workbook's commands. None of them changes your lab/ files.",
        {
            "redis": ("start, stop or show the local Redis",
                      ("action", {"choices": ["start", "stop", "status"]})),
            "check": ("run each step's tests on your lab/ and show progress",
                      ("--full", flag("the end-to-end tests too (real workers and APIs)"))),
            "hint": ("the next hint of a step: a nudge, then the calls, then the outline",
                     ("step", {"help": "the step, for example 03 or 08e"}),
                     ("--again", flag("show the last hint shown again"))),
            "report": ("a class's progress: each learner's copy x step, Markdown and HTML",
                       ("paths", {"nargs": "+", "help": "learners' copies: folders or git URLs"}),
                       ("--out", {"default": "class-report", "help": "where to write the report"}),
                       ("--timeout", {"type": float, "default": 300, "help": "seconds per copy"}),
                       ("--jobs", {"type": int,
                                   "help": "copies checked at once (default 2; 1 with --full:"
                                           " timed tests need cores)"}),
                       ("--full", flag("the end-to-end tests too (slower)"))),
            "nbval": ("run the notebooks with nbval against your lab/ (instructors)", NOTEBOOKS),
        },
        epilog="Instructors and maintainers: see README.md.",
    )  # fmt: skip
    bench = experiment(parsers, "bench", bench_cli)
    kinds = bench.add_subparsers(dest="bench", metavar="{workers,stats,abandoned,peers}")
    benches = {"workers": workers_cli, "stats": stats_cli, "abandoned": abandoned}
    for name, module in {**benches, "peers": peers_cli}.items():
        experiment(kinds, name, module)
    experiment(parsers, "soak", soak_cli)
    recover = parsers.add_parser(
        "recover",
        help="find accepted jobs that no worker will run (queued, in no queue) and queue them"
        " again (notebook 10)",
    )
    recover.add_argument("queues", nargs="*", help="default: every queue Redis knows")
    recover.add_argument("--dry-run", action="store_true", help="only say what it would do")
    recover.add_argument("--wait", type=float, default=2.0, help="seconds between the two"
                         " looks (a job in flight is not lost; default 2)")  # fmt: skip
    return parser


def dev_parser() -> argparse.ArgumentParser:
    return parser_of(
        "python -m lab dev",
        "Maintainer commands: they write lab/ stubs and notebook outputs.",
        {
            "stubs": ("regenerate lab/ stubs from solutions/ (an edited lab/ file is left alone)",
                      ("--check", flag("only check; fail if stale")),
                      ("--strict", flag("with --check: compare edited files too (CI)")),
                      ("--force", flag("also replace edited files (copied to .backups/)"))),
            "execute": ("re-run notebooks against solutions/ and save their outputs", NOTEBOOKS),
            "nbval": ("nbval on a copy of this checkout whose lab/ holds solutions/ (make test"
                      " runs it)", NOTEBOOKS),
            "time-check": ("time each notebook's check cell and `python -m lab check` (on copies)",
                           ("steps", {"nargs": "*", "help": "default: every step"}),
                           ("--runs", {"type": int, "default": 3,
                                       "help": "runs of each (the median is shown)"})),
            "newer-than-lock": ("list packages installed here at versions other than the lock's"
                                " (make test-latest)", ("requirements", {
                                    "help": "an exported lock, such as requirements-dev.txt"})),
            "fake-class": ("learner copies (complete, part way, broken) to try `lab report` on",
                           ("dest", {}), ("--count", {"type": int, "default": 30})),
        },
    )[0]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    dev = argv[:1] == ["dev"]
    args = dev_parser().parse_args(argv[1:]) if dev else learner_parser().parse_args(argv)
    from lab.support.servers.redis_server import RedisUnavailable

    try:
        return (run_dev if dev else run_learner)(args)
    except KeyboardInterrupt:
        return 130
    except (RedisUnavailable, ValueError) as exc:
        print(exc, file=sys.stderr)  # a message that says what to do; no traceback
        return 1


def run_learner(args: argparse.Namespace) -> int:
    from lab.support.servers import redis_server

    if args.command == "redis":
        if args.action == "stop":
            print(redis_server.stop())
            return 0
        current = redis_server.start() if args.action == "start" else redis_server.status()
        print(redis_server.describe(current))
        return 0 if current.state == "running" else 1
    if args.command == "recover":
        from lab.support.queueing import recovery

        return recovery.main(args.queues, args.dry_run, args.wait)
    if args.command == "check":
        from lab.support.course import check

        return check.main(args.full)
    if args.command == "report":
        from lab.support.course import report

        return report.main(args.paths, Path(args.out), args.timeout, args.jobs, args.full)
    if args.command == "hint":
        from lab.support.course import hints

        return hints.main(args.step, args.again)
    if args.command == "nbval":
        from lab.support.course import notebooks

        return notebooks.validate(args.notebooks, reference=False)
    if args.command == "bench" and args.bench == "peers":  # private Redis servers only
        from lab.support.experiments.peers import cli as peers_cli

        return peers_cli.main(args)
    if args.command == "bench":
        from lab.support.experiments.bench import abandoned, stats_cli, workers_cli
        from lab.support.experiments.bench import cli as bench_cli

        benches = {"workers": workers_cli, "stats": stats_cli, "abandoned": abandoned}
        bench = benches.get(args.bench, bench_cli)
        return redis_server.run_with_redis(lambda: bench.main(args))
    from lab.support.experiments.soak import cli as soak_cli  # soak: a Redis of its own

    return soak_cli.main(args)


def run_dev(args: argparse.Namespace) -> int:
    from lab.support.course import lockfile, notebooks, stubs, timing

    if args.command == "stubs":
        return stubs.main(check=args.check, force=args.force, strict=args.strict)
    if args.command == "execute":
        notebooks.execute(args.notebooks)
        return 0
    if args.command == "nbval":
        return notebooks.validate(args.notebooks, reference=True)
    if args.command == "time-check":
        return timing.main(args.runs, args.steps)
    if args.command == "fake-class":
        from lab.support.course import report

        print(f"{len(report.fake_class(Path(args.dest), args.count))} copies in {args.dest}")
        return 0
    return lockfile.main(args.requirements)


if __name__ == "__main__":
    sys.exit(main())

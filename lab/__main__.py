"""PROVIDED: the workbook's commands - `python -m lab --help` lists a learner's.

Maintainer commands, which write lab/ or notebooks/, are apart: `python -m lab dev --help`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path


def learner_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m lab",
        description="The workbook's commands. None of them changes your lab/ files.",
        epilog="Instructors and maintainers: see README.md.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    redis = commands.add_parser("redis", help="start, stop or show the local Redis")
    redis.add_argument("action", choices=["start", "stop", "status"])

    commands.add_parser("check", help="run each step's tests on your lab/ and show progress")

    hint = commands.add_parser(
        "hint", help="the next hint of a step: a nudge, then the calls, then the outline"
    )
    hint.add_argument("step", help="the step, for example 03 or 08e")
    hint.add_argument("--again", action="store_true", help="show the last hint shown again")

    report = commands.add_parser(
        "report", help="a class's progress: each learner's copy x step, Markdown and HTML"
    )
    report.add_argument("paths", nargs="+", help="learners' copies: folders or git URLs")
    report.add_argument("--out", default="class-report", help="where to write the report")
    report.add_argument("--timeout", type=float, default=300, help="seconds per copy")
    report.add_argument("--jobs", type=int, default=4, help="copies checked at once")

    nbval = commands.add_parser(
        "nbval", help="run the notebooks with nbval against your lab/ (instructors)"
    )
    nbval.add_argument("notebooks", nargs="*", help="default: every notebook")

    from lab.support.experiments.bench import abandoned, stats_cli, workers_cli
    from lab.support.experiments.bench import cli as bench_cli
    from lab.support.experiments.peers import cli as peers_cli
    from lab.support.experiments.soak import cli as soak_cli

    def experiment(
        parsers: argparse._SubParsersAction, name: str, module
    ) -> argparse.ArgumentParser:  # noqa: ANN001
        # Each experiment's module says its help, description (its docstring) and epilog.
        parser = parsers.add_parser(
            name,
            help=module.HELP,
            description=module.__doc__.split("\n", 2)[2],
            epilog=module.EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(parser)
        return parser

    bench = experiment(commands, "bench", bench_cli)
    kinds = bench.add_subparsers(dest="bench", metavar="{workers,stats,abandoned,peers}")
    for name, module in (
        ("workers", workers_cli),
        ("stats", stats_cli),
        ("abandoned", abandoned),
        ("peers", peers_cli),
    ):
        experiment(kinds, name, module)
    experiment(commands, "soak", soak_cli)

    recover = commands.add_parser(
        "recover",
        help="find accepted jobs that no worker will run (queued, in no queue) and queue them"
        " again (notebook 10)",
    )
    recover.add_argument("queues", nargs="*", help="default: every queue Redis knows")
    recover.add_argument("--dry-run", action="store_true", help="only say what it would do")
    recover.add_argument(
        "--wait",
        type=float,
        default=2.0,
        help="seconds between the two looks (a job in flight is not lost; default 2)",
    )

    return parser


def dev_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m lab dev",
        description="Maintainer commands: they write lab/ stubs and notebook outputs.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    stubs = commands.add_parser(
        "stubs",
        help="regenerate lab/ stubs from solutions/ (an edited lab/ file is left alone)",
    )
    stubs.add_argument("--check", action="store_true", help="only check; fail if stale")
    stubs.add_argument(
        "--strict", action="store_true", help="with --check: compare edited files too (CI)"
    )
    stubs.add_argument(
        "--force", action="store_true", help="also replace edited files (copied to .backups/)"
    )

    execute = commands.add_parser(
        "execute", help="re-run notebooks against solutions/ and save their outputs"
    )
    execute.add_argument("notebooks", nargs="*", help="default: every notebook")

    nbval = commands.add_parser(
        "nbval",
        help="nbval on a copy of this checkout whose lab/ holds solutions/ (make test runs it)",
    )
    nbval.add_argument("notebooks", nargs="*", help="default: every notebook")

    timing = commands.add_parser(
        "time-check",
        help="time each notebook's check cell and `python -m lab check` (on copies)",
    )
    timing.add_argument("steps", nargs="*", help="default: every step")
    timing.add_argument("--runs", type=int, default=3, help="runs of each (the median is shown)")

    newer = commands.add_parser(
        "newer-than-lock",
        help="list packages installed here at versions other than the lock's (make test-latest)",
    )
    newer.add_argument("requirements", help="an exported lock, such as requirements-dev.txt")
    fake = commands.add_parser(
        "fake-class", help="learner copies (complete, part way, broken) to try `lab report` on"
    )
    fake.add_argument("dest")
    fake.add_argument("--count", type=int, default=30)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["dev"]:
        args, run = dev_parser().parse_args(argv[1:]), run_dev
    else:
        args, run = learner_parser().parse_args(argv), run_learner
    return guarded(run, args)


def guarded(run: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    # Imported only now, so that `--help` works even before dependencies are installed.
    from lab.support.servers.redis_server import RedisUnavailable

    try:
        return run(args)
    except KeyboardInterrupt:
        return 130
    except (RedisUnavailable, ValueError) as exc:
        print(exc, file=sys.stderr)  # a message that says what to do; no traceback
        return 1


def run_learner(args: argparse.Namespace) -> int:
    # Imports are local so that `--help` works even before dependencies are installed.
    if args.command == "redis":
        from lab.support.servers import redis_server

        if args.action == "start":
            print(redis_server.describe(redis_server.start()))
        elif args.action == "stop":
            print(redis_server.stop())
        else:
            current = redis_server.status()
            print(redis_server.describe(current))
            return 0 if current.state == "running" else 1
        return 0
    if args.command == "recover":
        from lab.support.queueing import recovery

        return recovery.main(args.queues, args.dry_run, args.wait)
    if args.command == "check":
        from lab.support.course import check

        return check.main()
    if args.command == "report":
        from lab.support.course import report

        return report.main(args.paths, Path(args.out), args.timeout, args.jobs)
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
        from lab.support.servers import redis_server

        benches = {"workers": workers_cli, "stats": stats_cli, "abandoned": abandoned}
        bench = benches.get(args.bench, bench_cli)
        return redis_server.run_with_redis(lambda: bench.main(args))
    if args.command == "soak":  # it starts a Redis of its own: the learner's is not touched
        from lab.support.experiments.soak import cli as soak_cli

        return soak_cli.main(args)
    raise AssertionError(args.command)


def run_dev(args: argparse.Namespace) -> int:
    if args.command == "stubs":
        from lab.support.course import stubs

        return stubs.main(check=args.check, force=args.force, strict=args.strict)
    if args.command == "execute":
        from lab.support.course import notebooks

        notebooks.execute(args.notebooks)
        return 0
    if args.command == "nbval":
        from lab.support.course import notebooks

        return notebooks.validate(args.notebooks, reference=True)
    if args.command == "time-check":
        from lab.support.course import timing as check_timing

        return check_timing.main(args.runs, args.steps)
    if args.command == "newer-than-lock":
        from lab.support.course import lockfile

        return lockfile.main(args.requirements)
    if args.command == "fake-class":
        from lab.support.course import report

        print(f"{len(report.fake_class(Path(args.dest), args.count))} copies in {args.dest}")
        return 0
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())

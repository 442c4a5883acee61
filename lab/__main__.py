"""PROVIDED: the workbook's commands - `python -m lab --help` lists them."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab", description="Workbook commands.")
    commands = parser.add_subparsers(dest="command", required=True)

    redis = commands.add_parser("redis", help="start, stop or show the local Redis")
    redis.add_argument("action", choices=["start", "stop", "status"])

    stubs = commands.add_parser("stubs", help="regenerate lab/ stubs from solutions/")
    stubs.add_argument("--check", action="store_true", help="only check; fail if stale")

    commands.add_parser("check", help="run each step's tests on your lab/ and show progress")

    nbval = commands.add_parser("nbval", help="validate the notebooks with nbval")
    nbval.add_argument("notebooks", nargs="*", help="default: every notebook")
    nbval.add_argument(
        "--reference",
        action="store_true",
        help="run them against solutions/ in a copy of this checkout (what `make test` does);"
        " without it, against this checkout's lab/ as it is",
    )

    execute = commands.add_parser(
        "execute", help="re-run notebooks against solutions/ and save their outputs"
    )
    execute.add_argument("notebooks", nargs="*", help="default: every notebook")

    from .support.bench import cli as bench_cli

    bench = commands.add_parser(
        "bench",
        help="measure step 04's strategies side by side (blocking, background, queued)",
        description=bench_cli.DESCRIPTION,
        epilog=bench_cli.epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bench_cli.add_arguments(bench)

    args = parser.parse_args(argv)
    # Imported only now, so that `--help` works even before dependencies are installed.
    from .support.redis_server import RedisUnavailable

    try:
        return run(args)
    except KeyboardInterrupt:
        return 130
    except (RedisUnavailable, ValueError) as exc:
        print(exc, file=sys.stderr)  # a message that says what to do; no traceback
        return 1


def run(args: argparse.Namespace) -> int:
    # Imports are local so that `--help` works even before dependencies are installed.
    if args.command == "redis":
        from .support import redis_server

        if args.action == "start":
            print(redis_server.describe(redis_server.start()))
        elif args.action == "stop":
            print(redis_server.stop())
        else:
            current = redis_server.status()
            print(redis_server.describe(current))
            return 0 if current.state == "running" else 1
        return 0
    if args.command == "stubs":
        from .support import stubs

        if args.check:
            stale = stubs.stale_stubs()
            for path in stale:
                print(f"stale: {path.name} differs from its solution; run `python -m lab stubs`")
            return 1 if stale else 0
        for path, backup in stubs.write_stubs():
            saved = f" (the old file is in {backup.parent.name}/{backup.name})" if backup else ""
            print(f"wrote lab/{path.name}{saved}")
        return 0
    if args.command == "check":
        from .support import check

        return check.main()
    if args.command == "nbval":
        from .support import notebooks

        return notebooks.validate(args.notebooks, reference=args.reference)
    if args.command == "bench":
        from .support import redis_server
        from .support.bench import cli as bench_cli

        return redis_server.run_with_redis(lambda: bench_cli.main(args))
    if args.command == "execute":
        from .support import notebooks

        notebooks.execute(args.notebooks)
        return 0
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())

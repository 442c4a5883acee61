"""PROVIDED: the command line of `python -m lab bench` - step 04's strategies side by side.

It starts `uvicorn <package>.strategies:app` (one process) and `workers` RQ workers
(`python -m <package>.worker bench-emails --simple`), then drives load from this process
(httpx, asyncio), one concurrency level after another, strategy after strategy. A cell
(one strategy at one concurrency) waits until every email it triggered is done before
the next cell starts, so that cells do not disturb each other.

- A blocking strategy gets one burst of `concurrency` requests at once: its email runs
  inside the request, so the last answer is also the last email done.
- background and rq-enqueue get `requests` requests (at least `concurrency`) from
  `concurrency` clients that each send the next request as soon as they have an answer.
  Their emails are done when the last background email noted its end in Redis
  (`send_and_record`), or when the last RQ job ended (its `ended_at`).
- The floors, `redis-ping` (PING from this process) and `noop` (POST /noop), get
  `floor_requests` requests. The no-op's best rate is the client's ceiling: a rate near
  it, or a client that was busy all the time, says more about this load generator than
  about the server, and the figure is marked client-bound.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

from lab.support.experiments.bench.model import MODEL
from lab.support.experiments.bench.report import FIELDS, table
from lab.support.experiments.bench.settings import (
    DEFAULT,
    QUICK,
    BenchError,
    BenchSettings,
    add_package_argument,
)

#: `--help`'s description: this docstring without its first line.
DESCRIPTION = __doc__.split("\n", 2)[2]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`python -m lab bench`'s flags; each one left out keeps its default (settings_from)."""
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smaller settings (delay {QUICK.delay:g} s, concurrency"
        f" {' '.join(map(str, QUICK.concurrency))}, {QUICK.requests} requests, ~15 s)",
    )
    parser.add_argument(
        "--delay", type=float, help=f"seconds per email (default {DEFAULT.delay:g})"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        nargs="+",
        metavar="N",
        help=f"concurrency levels (default {' '.join(map(str, DEFAULT.concurrency))})",
    )
    parser.add_argument(
        "--requests",
        type=int,
        help=f"requests per background / rq-enqueue cell, at least the concurrency"
        f" (default {DEFAULT.requests})",
    )
    parser.add_argument(
        "--floor-requests",
        type=int,
        help=f"requests per floor cell (default {DEFAULT.floor_requests})",
    )
    parser.add_argument("--workers", type=int, help=f"RQ workers (default {DEFAULT.workers})")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the rows as JSON")
    add_package_argument(parser, "strategies.py, producer.py and worker.py")


def epilog() -> str:
    """`--help`'s end: the JSON fields (FIELDS) and the model."""
    import textwrap

    fields = [
        textwrap.fill(
            text,
            88,
            break_on_hyphens=False,
            initial_indent=f"  {name:<16}",
            subsequent_indent=" " * 18,
        )
        if len(name) < 16
        else f"  {name}\n"
        + textwrap.fill(
            text, 88, break_on_hyphens=False, initial_indent=" " * 18, subsequent_indent=" " * 18
        )
        for name, text in FIELDS.items()
    ]
    return "\n".join(
        [
            "--json PATH writes a list with one object per strategy and concurrency:",
            *fields,
            "",
            textwrap.fill(f"{MODEL}.", 88),
        ]
    )


def settings_from(args: argparse.Namespace) -> BenchSettings:
    """The run's settings: --quick's or the defaults, with the flags given; a BenchError
    when one is out of range."""
    base = QUICK if args.quick else DEFAULT
    chosen = {
        "delay": args.delay,
        "concurrency": tuple(args.concurrency) if args.concurrency else None,
        "requests": args.requests,
        "floor_requests": args.floor_requests,
        "workers": args.workers,
    }
    settings = replace(
        base, package=args.package or "lab", **{k: v for k, v in chosen.items() if v is not None}
    )
    if settings.delay < 0 or min(settings.concurrency) < 1 or settings.workers < 1:
        raise BenchError("--delay must be >= 0; --concurrency and --workers >= 1.")
    if settings.requests < 1 or settings.floor_requests < 1:
        raise BenchError("--requests and --floor-requests must be >= 1.")
    return settings


def main(args: argparse.Namespace) -> int:
    """Run the bench as `args` say; print the table (and write the JSON). A BenchError is
    one line on stderr and exit code 1."""
    from lab.support.experiments.bench.measure import (
        run,  # not at the top: `python -m lab --help` only needs the flags
    )

    try:
        settings = settings_from(args)
        started = time.perf_counter()
        cells = run(settings, fallback=args.package is None)
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    print(table(cells))
    print(f"\n{len(cells)} cells in {time.perf_counter() - started:.0f} s.")
    if args.json:
        args.json.write_text(json.dumps([asdict(c.row) for c in cells], indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0

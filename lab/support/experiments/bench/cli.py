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
import sys
import textwrap

from lab.support.experiments.bench.report import FIELDS, table
from lab.support.experiments.bench.strategies import DEFAULT, MODEL, QUICK, BenchSettings
from lab.support.experiments.harness import (
    BenchError,
    add_common_arguments,
    fields_help,
    run_and_report,
    settings_from,
)

HELP = (
    "measure step 04's strategies side by side (blocking, background, queued);"
    " `bench workers`: the worker side (step 07); `bench stats`: GET /stats's cost (step 09)"
)
EPILOG = (
    fields_help("--json PATH writes a list with one object per strategy and concurrency:", FIELDS)
    + "\n\n"
    + textwrap.fill(f"{MODEL}.", 88)
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`python -m lab bench`'s flags; each one left out keeps its default (settings_from)."""
    add = parser.add_argument
    quick = f"delay {QUICK.delay:g} s, concurrency {' '.join(map(str, QUICK.concurrency))}"
    add("--quick", action="store_true", help=f"smaller settings ({quick}, {QUICK.requests}"
        " requests, ~15 s)")  # fmt: skip
    add("--delay", type=float, help=f"seconds per email (default {DEFAULT.delay:g})")
    levels = " ".join(map(str, DEFAULT.concurrency))
    add("--concurrency", type=int, nargs="+", metavar="N",
        help=f"concurrency levels (default {levels})")  # fmt: skip
    add("--requests", type=int, help=f"requests per background / rq-enqueue cell, at least"
        f" the concurrency (default {DEFAULT.requests})")  # fmt: skip
    add("--floor-requests", type=int,
        help=f"requests per floor cell (default {DEFAULT.floor_requests})")  # fmt: skip
    add("--workers", type=int, help=f"RQ workers (default {DEFAULT.workers})")
    add_common_arguments(
        parser, "strategies.py, producer.py and worker.py", "also write the rows as JSON"
    )


def checked(args: argparse.Namespace) -> BenchSettings:
    """The run's settings: --quick's or the defaults, with the flags given; a BenchError
    when one is out of range."""
    names = ("delay", "concurrency", "requests", "floor_requests", "workers")
    settings = settings_from(args, QUICK if args.quick else DEFAULT, names)
    if settings.delay < 0 or min(settings.concurrency) < 1 or settings.workers < 1:
        raise BenchError("--delay must be >= 0; --concurrency and --workers >= 1.")
    if settings.requests < 1 or settings.floor_requests < 1:
        raise BenchError("--requests and --floor-requests must be >= 1.")
    return settings


def main(args: argparse.Namespace) -> int:
    """Run the bench as `args` say; print the table (and write the JSON). A BenchError is
    one line on stderr and exit code 1."""
    from lab.support.experiments.bench.run import run  # not at the top: --help needs only flags

    try:
        settings = checked(args)
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    return run_and_report(
        run,
        settings,
        args,
        table,
        lambda cells: f"{len(cells)} cells",
        as_json=lambda cells: [c.row for c in cells],
    )

"""PROVIDED: the command line of `python -m lab soak` - chaos under load; is anything lost?

It starts a Redis of its own (a free port, a temporary folder, append-only file on: your
Redis is never touched), `uvicorn <package>.producer:app` and W workers in one pool
(`python -m <package>.worker --processes W`: RQ's WorkerPool, which starts a new worker
when one dies), then sends N POST /emails, each with an Idempotency-Key, from C
clients. A client re-sends a request that got no 202 (503, 409, no answer) with
the same key, as a careful client would, until a 202 or a deadline. Meanwhile the chaos
strikes at moments drawn from --seed:

  worker-kill     SIGKILL a worker and its work horse (3 times, or every --kill-every
                  seconds while the requests are sent); the pool starts a new one
  redis-restart   stop Redis gracefully, start it again after --down seconds (once)
  redis-kill      SIGKILL Redis, start it again after --down seconds (once)

A worker that exits by itself is counted. Once the queue drained (or a deadline), it
reads Redis and reports: accepted, finished, failed (by reason), lost (answered 202 but
neither finished nor failed, with where each job is), duplicates (a key with two jobs; a
job that ran twice, each run's end), the emails the fake mail provider delivered (never,
twice), workers exited. Exit code 1 when a target is missed: lost, duplicate keys, emails
never delivered, delivered twice, jobs that ran again and sent again, workers exited and
requests never accepted must all be 0.
"""

from __future__ import annotations

import argparse
import sys

from lab.support.experiments.harness import (
    add_common_arguments,
    fields_help,
    run_and_report,
    settings_from,
)
from lab.support.experiments.soak.settings import CHAOS, DEFAULT, QUICK, SoakError, SoakSettings

HELP = "send keyed POSTs while killing workers or Redis, then count what was lost (notebook 10)"

#: The JSON file's main fields (--json PATH).
FIELDS = {
    "accepted": "Idempotency-Keys that got a 202 (first or replayed)",
    "finished, failed": "accepted jobs that finished / failed; failed_by_error groups them",
    "lost, lost_jobs": "accepted jobs neither finished nor failed: status and where each is",
    "duplicate_keys": "keys with more than one job (answers and jobs in Redis alike)",
    "jobs_run_more_than_once": "jobs with more than one run (repeated_runs: each run's end)",
    "keys_sent_more_than_once": "keys whose job ended successful twice or more (runs, not emails)",
    "delivered": "accepted keys whose email the fake mail provider's outbox holds",
    "never_delivered, never_delivered_keys": "accepted keys with no email in the outbox",
    "delivered_twice, delivered_twice_keys": "keys with two emails or more in the outbox",
    "jobs_sent_twice, jobs_sent_twice_runs": "jobs run more than once whose key got two emails",
    "workers_exited, exits": "workers that ended without being killed, with their last lines",
    "workers_killed, events": "what the chaos did, when, and how long Redis was down",
    "answers, resends": "every attempt's HTTP status (0: no answer), and the re-sends",
    "settings": "the settings the API and workers ran with (JOB_LEASE, ...)",
    "missed": "the targets missed, one sentence each (empty: all met)",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`python -m lab soak`'s flags; one left out keeps its default."""
    add = parser.add_argument
    add("--requests", type=int, help=f"POSTs to send (default {DEFAULT.requests})")
    add("--concurrency", type=int, help=f"clients at once (default {DEFAULT.concurrency})")
    add("--chaos", choices=CHAOS, default="none", help="what to break meanwhile (default none)")
    add("--workers", type=int, help=f"worker processes (default {DEFAULT.workers})")
    add("--simple", action="store_true", help="SimpleWorkers instead of forking Workers")
    add("--events", type=int, help="times the chaos strikes (default 3 worker kills, 1 outage)")
    add(
        "--kill-every",
        type=float,
        metavar="SECONDS",
        help="with --chaos worker-kill: kill a worker every SECONDS while sending",
    )
    add("--down", type=float, help=f"seconds Redis stays down (default {DEFAULT.down:g})")
    add("--seed", type=int, help=f"chooses the chaos' moments and victims (default {DEFAULT.seed})")
    add("--delay", type=float, help=f"seconds each email takes (default {DEFAULT.delay:g})")
    add(
        "--quick",
        action="store_true",
        help=f"{QUICK.requests} requests at concurrency {QUICK.concurrency}, {QUICK.workers}"
        f" workers, Redis down {QUICK.down:g} s, and shorter settings ("
        + ", ".join(f"{k}={v}" for k, v in QUICK.env)
        + "); about 20 s",
    )
    add_common_arguments(
        parser, "producer.py, failures.py, worker.py and pool.py", "also write the report as JSON"
    )


EPILOG = fields_help("--json PATH writes one object; its main fields:", FIELDS, 24)


def checked(args: argparse.Namespace) -> SoakSettings:
    """The run's settings: --quick's or the defaults, with the flags given; a SoakError
    when one is out of range."""
    names = ("requests", "concurrency", "workers", "events", "down", "seed", "delay", "kill_every")
    base = QUICK if args.quick else DEFAULT
    settings = settings_from(args, base, names, chaos=args.chaos, simple=args.simple)
    if min(settings.requests, settings.concurrency, settings.workers) < 1:
        raise SoakError("--requests, --concurrency and --workers must be 1 or more.")
    if settings.delay < 0 or settings.down < 0 or (settings.events or 0) < 0:
        raise SoakError("--delay, --down and --events must be 0 or more.")
    if settings.kill_every is not None and (
        settings.chaos != "worker-kill" or settings.kill_every <= 0
    ):
        raise SoakError("--kill-every takes seconds over 0, with --chaos worker-kill.")
    return settings


def main(args: argparse.Namespace) -> int:
    """Run the soak as `args` say; print the report (and write the JSON). Exit code 1 when
    a target is missed or the soak cannot run (one line on stderr)."""
    from lab.support.experiments.soak.audit import table
    from lab.support.experiments.soak.run import run
    from lab.support.servers.redis_server import RedisUnavailable

    try:
        return run_and_report(
            run,
            checked(args),
            args,
            table,
            lambda report: f"{report['requests']} requests",
            command="soak",
            doing=("Running", "runs"),
            missed=lambda report: bool(report["missed"]),
        )
    except SoakError as exc:  # a flag out of range
        print(f"soak: {exc}", file=sys.stderr)
        return 1
    except RedisUnavailable as exc:
        said = str(exc).splitlines()[0]
        print(f"soak: cannot start a Redis of its own: {said}", file=sys.stderr)
        return 1

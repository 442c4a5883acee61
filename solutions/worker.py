"""Step 03 - YOUR FILE (lab/worker.py): the consumer that runs queued jobs.

    python -m lab.worker [QUEUE ...] [--burst] [--simple] [--with-scheduler]

`Worker` forks a fresh process for every job, so a crashing job cannot take the worker
down; `SimpleWorker` runs jobs in its own process, which is what Windows (no fork)
needs. `--burst` stops once the queues are empty. `--with-scheduler` also moves jobs
whose time has come (enqueue_in, retries with an interval) onto their queues.
Results are kept RESULT_TTL seconds (default 500).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from redis import Redis
from redis.exceptions import RedisError
from rq import SimpleWorker, Worker

from lab.support.config import get_settings, safe_url

from .connection import get_queue, get_redis


def worker_class(simple: bool = False) -> type[Worker] | type[SimpleWorker]:
    """SimpleWorker when asked for, or on Windows, which cannot fork; Worker elsewhere."""
    # BEGIN SOLUTION: pick SimpleWorker or Worker
    if simple or sys.platform == "win32":
        return SimpleWorker
    return Worker
    # END SOLUTION


def build_worker(
    queue_names: Sequence[str] = (), simple: bool = False, connection: Redis | None = None
) -> Worker | SimpleWorker:
    """A worker for the queues `queue_names` (default: the QUEUE_NAME setting)."""
    # BEGIN SOLUTION: one get_queue() per name, all on one connection, into worker_class()
    connection = connection or get_redis()
    names = list(queue_names) or [get_settings().queue_name]
    queues = [get_queue(connection, name) for name in names]
    return worker_class(simple)(queues, connection=connection)
    # END SOLUTION


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lab.worker", description=__doc__.split("\n")[0]
    )
    parser.add_argument("queues", nargs="*", help="queues to listen on, first = most urgent")
    parser.add_argument("--burst", action="store_true", help="stop when the queues are empty")
    parser.add_argument("--simple", action="store_true", help="run jobs in this process")
    parser.add_argument(
        "--with-scheduler",
        action="store_true",
        help="also enqueue scheduled jobs when their time comes (retry intervals, enqueue_in)",
    )
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    settings = get_settings()
    url = safe_url(settings.redis_url)
    try:
        connection = get_redis()
        connection.ping()
        worker = build_worker(args.queues, args.simple, connection)
        worker.default_result_ttl = settings.result_ttl
        names = ", ".join(queue.name for queue in worker.queues)
        print(f"{type(worker).__name__} listening on {names} at {url}", flush=True)
        worker.work(burst=args.burst, with_scheduler=args.with_scheduler)
    except NotImplementedError:
        print(f"{__name__}: a TODO in {__file__} is not written yet.", file=sys.stderr)
        return 1
    except RedisError as exc:
        print(
            f"Cannot reach Redis at {url} ({type(exc).__name__}: {exc}). "
            "Start it with `python -m lab redis start`, or set REDIS_URL.",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

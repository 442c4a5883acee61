"""PROVIDED: the command line of the worker, `python -m lab.worker` (lab/worker.py's main()).

It parses the options, checks that Redis answers, builds the worker with your
build_worker() and runs it; with Redis down, or a TODO of yours not written yet, it
prints one line and exits 1 instead of a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError
from rq import Worker

from .config import get_settings, safe_url

BuildWorker = Callable[[Sequence[str], bool, Redis], Worker]


def parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("queues", nargs="*", help="queues to listen on, first = most urgent")
    parser.add_argument("--burst", action="store_true", help="stop when the queues are empty")
    parser.add_argument("--simple", action="store_true", help="run jobs in this process")
    parser.add_argument(
        "--with-scheduler",
        action="store_true",
        help="also enqueue scheduled jobs when their time comes (retry intervals, enqueue_in)",
    )
    return parser


def unwritten(exc: NotImplementedError) -> str:
    """ "get_redis() in lab/connection.py": where the stub that raised `exc` is."""
    frame = traceback.extract_tb(exc.__traceback__)[-1]
    path = Path(frame.filename)
    return f"{frame.name}() in {path.parent.name}/{path.name}"


def main(
    build_worker: BuildWorker,
    get_redis: Callable[[], Redis],
    module: str,
    description: str,
    argv: Sequence[str] | None = None,
) -> int:
    """Run `python -m <module>` with `argv`; returns the exit code."""
    args = parser(f"python -m {module}", description).parse_args(argv)
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
    except NotImplementedError as exc:
        print(f"{module}: {unwritten(exc)} is not written yet (its TODO).", file=sys.stderr)
        return 1
    except RedisError as exc:
        print(
            f"Cannot reach Redis at {url} ({type(exc).__name__}: {exc}). "
            "Start it with `python -m lab redis start`, or set REDIS_URL.",
            file=sys.stderr,
        )
        return 1
    return 0

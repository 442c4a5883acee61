"""PROVIDED: the command line of the worker, `python -m lab.worker` (lab/worker.py's main()).

It parses the options, checks that Redis answers, builds the worker with your
build_worker() and runs it; with Redis down, a REDIS_URL it cannot use, or a TODO of yours
not written yet, it prints one line and exits 1 instead of a traceback. At start it says
which queues it listens on, with their lengths, and warns when a queue name looks like a
typo. No line it prints shows the password of REDIS_URL.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Worker

from .config import get_settings, hide_secrets, redis_url_problem, safe_url

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


def announce(worker: Worker, url: str) -> None:
    """Say which queues `worker` listens on, with their lengths; warn about a queue that
    Redis has never seen while other queues hold jobs (a typo: `defualt`)."""
    counts = {queue.name: queue.count for queue in worker.queues}
    listed = ", ".join(f"{name} ({count} queued)" for name, count in counts.items())
    print(f"{type(worker).__name__} listening on {listed} at {url}", flush=True)
    known = Queue.all(connection=worker.connection)  # every queue that ever held a job
    waiting = {q.name: q.count for q in known if q.name not in counts and q.count}
    if not waiting:
        return
    others = ", ".join(f"{name} ({count} queued)" for name, count in waiting.items())
    for name, count in counts.items():
        if count == 0 and name not in {q.name for q in known}:
            print(
                f"warning: no job was ever queued on {name!r}, while other queues hold jobs:"
                f" {others}. A typo in the queue name? Workers take jobs only from the"
                " queues they are given.",
                flush=True,
            )


def exit_promptly(worker: Worker) -> Worker:
    """Let `worker` exit as soon as it is done, not up to 1 s later.

    At exit RQ 3.0 unsubscribes from the worker's command channel, then stops the thread
    that listens on it and joins it for 1 s. The thread often reads the unsubscribe reply
    before it is stopped and goes back to waiting (60 s), so the join times out: every
    `--burst` run or Ctrl-C took a second more. Stopping the thread first avoids that."""
    unsubscribe = worker.unsubscribe

    def stop_listening_first() -> None:
        if worker.pubsub_thread is not None:
            worker.pubsub_thread.stop()
        unsubscribe()

    worker.unsubscribe = stop_listening_first
    return worker


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
    try:
        settings = get_settings()
    except ValueError as exc:  # a setting that is not a number, or does not fit
        print(f"{module}: {exc}", file=sys.stderr)
        return 1
    url = safe_url(settings.redis_url)
    problem = redis_url_problem(settings.redis_url)
    if problem is not None:
        print(f"{module}: {problem}", file=sys.stderr)
        return 1
    try:
        connection = get_redis()
        connection.ping()
        worker = exit_promptly(build_worker(args.queues, args.simple, connection))
        worker.default_result_ttl = settings.result_ttl
        announce(worker, url)
        worker.work(burst=args.burst, with_scheduler=args.with_scheduler)
    except NotImplementedError as exc:
        print(f"{module}: {exc}", file=sys.stderr)  # the stub names itself and its file
        return 1
    except RedisError as exc:
        print(
            f"Cannot reach Redis at {url} ({type(exc).__name__}: {hide_secrets(str(exc))}). "
            "Start it with `python -m lab redis start`, or set REDIS_URL.",
            file=sys.stderr,
        )
        return 1
    return 0

"""PROVIDED: the command line of the worker, `python -m lab.worker` (lab/worker.py's main()).

It parses the options, checks that Redis answers, builds the worker with your
build_worker() and runs it; with `--processes N` it builds a pool of N workers with your
build_pool() (lab/pool.py, step 07) instead. With Redis down, a REDIS_URL it cannot use,
or a TODO of yours not written yet, it prints one line and exits 1 instead of a
traceback; a worker stopped by an unexpected error exits 1 too (RQ's would exit 0).
At start it says which queues it listens on, with their lengths, and warns when a queue
name looks like a typo. No line it prints shows the password of REDIS_URL.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence

from redis import Redis
from redis.exceptions import AuthenticationError, RedisError
from rq import Queue, Worker
from rq.worker import DequeueStrategy, SpawnWorker
from rq.worker_pool import WorkerPool

from lab.support.config import (
    Settings,
    get_settings,
    hide_secrets,
    password_refused,
    redis_url_problem,
    safe_url,
)
from lab.support.workers.classes import WorkbookPool, workbook_class
from lab.support.workers.outage import OutageTooLong
from lab.support.workers.poison import WorkerCrashed

BuildWorker = Callable[[Sequence[str], bool, Redis], Worker]

MAX_PROCESSES = 64
"""The most workers `--processes` starts: each is a process of its own (~40 MB)."""


def process_count(text: str) -> int:
    """`--processes`'s value: a whole number from 1 to MAX_PROCESSES."""
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if not 1 <= count <= MAX_PROCESSES:
        raise argparse.ArgumentTypeError(f"expected 1 to {MAX_PROCESSES} processes, not {count}")
    return count


def parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("queues", nargs="*", help="queues to listen on, first = most urgent")
    parser.add_argument("--burst", action="store_true", help="stop when the queues are empty")
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument("--simple", action="store_true", help="run jobs in this process")
    kind.add_argument(
        "--spawn",
        action="store_true",
        help="SpawnWorker: start a new Python process for each job (no fork, as on macOS)",
    )
    parser.add_argument(
        "--processes",
        type=process_count,
        metavar="N",
        help="run N workers at once on RQ's WorkerPool (your build_pool(), step 07);"
        " each also runs the scheduler",
    )
    parser.add_argument(
        "--with-scheduler",
        action="store_true",
        help="also enqueue scheduled jobs when their time comes (retry intervals, enqueue_in)",
    )
    parser.add_argument(
        "--dequeue-strategy",
        choices=[strategy.value for strategy in DequeueStrategy],
        default="default",
        help="default: always the first queue that holds a job (in the order given);"
        " round_robin: the queues in turn; random: a queue at random",
    )
    return parser


def announce(who: str, queues: Sequence[Queue], connection: Redis, url: str) -> None:
    """Say that `who` listens on `queues`, with their lengths; warn about a queue that
    Redis has never seen while other queues hold jobs (a typo: `defualt`)."""
    counts = {queue.name: queue.count for queue in queues}
    listed = ", ".join(f"{name} ({count} queued)" for name, count in counts.items())
    print(f"{who} listening on {listed} at {url}", flush=True)
    known = Queue.all(connection=connection)  # every queue that ever held a job
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


def run_pool(module: str, args: argparse.Namespace, connection: Redis, url: str) -> int:
    """Build the pool with the learner's build_pool() (`<package>.pool`) and run it, as a
    WorkbookPool of the same queues, size and worker class, until it is stopped (or, with
    --burst, until its workers find the queues empty). Returns the exit code: 1 when its
    workers gave up on Redis (REDIS_OUTAGE_LIMIT), else 0."""
    package = module.rpartition(".")[0]
    if args.spawn:
        worker_class = SpawnWorker
    else:  # the learner's worker_class() of step 03
        worker_class = importlib.import_module(module).worker_class(args.simple)
    build_pool = importlib.import_module(f"{package}.pool").build_pool
    built: WorkerPool = build_pool(args.queues, args.processes, worker_class, connection)
    pool = WorkbookPool(
        [queue.name for queue in built.queues],
        built.connection,
        built.num_workers,
        built.worker_class,
        dequeue_strategy=args.dequeue_strategy,
    )
    who = f"WorkerPool of {pool.num_workers} {worker_class.__name__}s"
    announce(who, pool.queues, connection, url)
    pool.start(burst=args.burst, logging_level="INFO")
    return 1 if pool.gave_up else 0


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
    settings = usable_settings(module)
    if settings is None:
        return 1
    url = safe_url(settings.redis_url)
    try:
        connection = get_redis()
        connection.ping()
        if args.processes:
            return run_pool(module, args, connection, url)
        learners = build_worker(args.queues, args.simple, connection)
        # The same queues and connection, in the workbook's class for the learner's one
        # (classes.py), or in the one that spawns.
        chosen = SpawnWorker if args.spawn else type(learners)
        worker = workbook_class(chosen)(
            learners.queues, connection=connection, dequeue_strategy=args.dequeue_strategy
        )
        announce(type(worker).__name__, worker.queues, connection, url)
        worker.work(burst=args.burst, with_scheduler=args.with_scheduler)
    except (NotImplementedError, RedisError) as exc:
        print(one_line(module, url, exc), file=sys.stderr)
        return 1
    except OutageTooLong:  # it said so in one line
        return 1
    except WorkerCrashed as exc:  # it logged the error, with its traceback
        return exc.code
    return 0


def usable_settings(module: str) -> Settings | None:
    """The settings, or None once it has printed, in one line, why they cannot be used: a
    setting that is not a number or does not fit, or a REDIS_URL redis-py cannot use."""
    try:
        settings = get_settings()
    except ValueError as exc:  # a setting that is not a number, or does not fit
        print(f"{module}: {exc}", file=sys.stderr)
        return None
    problem = redis_url_problem(settings.redis_url)
    if problem is not None:
        print(f"{module}: {problem}", file=sys.stderr)
        return None
    return settings


def one_line(module: str, url: str, exc: NotImplementedError | RedisError) -> str:
    """What a command says before it exits 1: the stub's words (they name the function and
    its file), or that Redis at `url` cannot be reached and what to do."""
    if isinstance(exc, NotImplementedError):
        return f"{module}: {exc}"
    if isinstance(exc, AuthenticationError):  # a ConnectionError, but "start it" would not help
        return f"{module}: {password_refused(get_settings().redis_url, exc)}"
    return (
        f"Cannot reach Redis at {url} ({type(exc).__name__}: {hide_secrets(str(exc))}). "
        "Start it with `python -m lab redis start`, or set REDIS_URL."
    )

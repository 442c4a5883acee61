"""PROVIDED: the command line of the worker, `python -m lab.worker` (lab/worker.py's main()).

It parses the options, checks that Redis answers, builds the worker with your
build_worker() and runs it; with `--processes N` it builds a pool of N workers with your
build_pool() (lab/pool.py, step 07) instead. With Redis down, a REDIS_URL it cannot use,
or a TODO of yours not written yet, it prints one line and exits 1 instead of a
traceback. At start it says which queues it listens on, with their lengths, and warns
when a queue name looks like a typo. No line it prints shows the password of REDIS_URL.
"""

from __future__ import annotations

import argparse
import functools
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
from lab.support.queueing.recovery import recover_in_maintenance
from lab.support.queueing.serializer import apply_serializer
from lab.support.workers.classes import workbook_class
from lab.support.workers.outage import OUTAGE_EXIT, OutageTooLong, ride

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


def configured(worker: Worker, settings: Settings, strategy: str = "default") -> Worker:
    """`worker` as this command runs every worker: results kept RESULT_TTL seconds, a
    heartbeat at least every WORKER_TTL - 15 s, jobs taken from its queues by `strategy`
    (--dequeue-strategy). Maintenance (RQ's
    registry cleanup, then recovery of lost jobs) every MAINTENANCE_INTERVAL seconds, idle
    or not; a busy worker's heartbeat every JOB_HEARTBEAT seconds, which keeps its job's
    lease of JOB_LEASE seconds; Redis outages ridden out for up to REDIS_OUTAGE_LIMIT
    seconds (outage.ride)."""
    worker.default_result_ttl = settings.result_ttl
    worker.worker_ttl = settings.worker_ttl
    apply_serializer(worker, settings.serializer)  # RQ_SERIALIZER, as the API's queues
    worker.maintenance_interval = settings.maintenance_interval
    interval = settings.maintenance_interval
    for queue in worker.queues:  # RQ holds it 899 s: see short_maintenance_lock()
        queue.acquire_maintenance_lock = short_maintenance_lock(queue, interval)
    worker.job_monitoring_interval = settings.job_heartbeat
    worker.get_heartbeat_ttl = lambda job, working_time=0.0: settings.job_lease
    worker.dequeue_job_and_maintain_ttl = waking_for_maintenance(worker)
    worker.run_maintenance_tasks = with_recovery(worker)
    ride(worker, safe_url(settings.redis_url), settings.redis_outage_limit)
    if strategy != DequeueStrategy.DEFAULT.value:  # a pool calls work() without a strategy
        worker.work = functools.partial(worker.work, dequeue_strategy=DequeueStrategy(strategy))
    return worker


def short_maintenance_lock(queue: Queue, interval: int) -> Callable[[], bool]:
    """RQ's lock on a queue's registry cleanup, held MAINTENANCE_INTERVAL seconds instead of
    RQ's 899: a worker killed while it cleans (or stopped by SIGTERM, which raises where it
    is) never releases it, and then no worker fails that queue's abandoned jobs for 15
    minutes."""

    def acquire() -> bool:
        return bool(queue.connection.set(queue.registry_cleaning_key, 1, nx=True, ex=interval))

    return acquire


def waking_for_maintenance(worker: Worker) -> Callable[..., object]:
    """An idle worker blocks on its queues for WORKER_TTL - 15 s (405) at a time, and runs
    maintenance only between two waits: it waits at most a third of MAINTENANCE_INTERVAL."""
    dequeue = worker.dequeue_job_and_maintain_ttl

    def dequeue_in_time(timeout: int | None, max_idle_time: int | None = None) -> object:
        if timeout is not None:
            timeout = max(1, min(timeout, worker.maintenance_interval // 3))
        return dequeue(timeout, max_idle_time)

    return dequeue_in_time


def with_recovery(worker: Worker) -> Callable[[], None]:
    """RQ's maintenance preceded by the recovery of lost jobs (recovery.py): a job stuck in
    an intermediate list is queued again before RQ's cleanup would fail it."""
    maintain = worker.run_maintenance_tasks

    def run_maintenance_tasks() -> None:
        recover_in_maintenance(worker.connection, worker.queues, worker.maintenance_interval)
        maintain()

    return run_maintenance_tasks


def with_settings(
    worker_class: type[Worker], settings: Settings, strategy: str = "default"
) -> Callable[..., Worker]:
    """What a pool calls, in each worker's process, to make that worker: `worker_class`,
    configured() as a single worker is."""
    ours = workbook_class(worker_class)
    return lambda *args, **kwargs: configured(ours(*args, **kwargs), settings, strategy)


def run_pool(
    module: str, args: argparse.Namespace, connection: Redis, url: str, settings: Settings
) -> int:
    """Build the pool with the learner's build_pool() (`<package>.pool`) and run it until
    it is stopped (or, with --burst, until its workers find the queues empty). Returns the
    exit code: 1 when its workers gave up on Redis (REDIS_OUTAGE_LIMIT), else 0."""
    package = module.rpartition(".")[0]
    if args.spawn:
        worker_class = SpawnWorker
    else:  # the learner's worker_class() of step 03
        worker_class = importlib.import_module(module).worker_class(args.simple)
    build_pool = importlib.import_module(f"{package}.pool").build_pool
    pool: WorkerPool = build_pool(args.queues, args.processes, worker_class, connection)
    pool.worker_class = with_settings(pool.worker_class, settings, args.dequeue_strategy)
    who = f"WorkerPool of {pool.num_workers} {worker_class.__name__}s"
    announce(who, pool.queues, connection, url)
    gave_up = stopping_on_outage(pool)
    pool.start(burst=args.burst, logging_level="INFO")
    return 1 if gave_up else 0


def stopping_on_outage(pool: WorkerPool) -> list[str]:
    """Make `pool` stop, instead of starting a new worker, when one of its workers exits
    because Redis did not answer for REDIS_OUTAGE_LIMIT seconds. Returns the list that
    gets the names of those workers."""
    gave_up: list[str] = []
    handle_dead_worker = pool.handle_dead_worker

    def handle(worker_data) -> None:  # noqa: ANN001 - rq.worker_pool.WorkerData
        handle_dead_worker(worker_data)
        if worker_data.process.exitcode == OUTAGE_EXIT:
            gave_up.append(worker_data.name)
            if pool.status != pool.Status.STOPPED:
                pool.status = pool.Status.STOPPED
                pool.stop_workers()

    pool.handle_dead_worker = handle
    return gave_up


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
            return run_pool(module, args, connection, url, settings)
        worker = build_worker(args.queues, args.simple, connection)
        # The same queues and connection, in the workbook's class for the learner's one
        # (worker_classes.py), or in the one that spawns.
        chosen = SpawnWorker if args.spawn else type(worker)
        worker = workbook_class(chosen)(worker.queues, connection=connection)
        worker = configured(worker, settings, args.dequeue_strategy)
        announce(type(worker).__name__, worker.queues, connection, url)
        worker.work(burst=args.burst, with_scheduler=args.with_scheduler)
    except (NotImplementedError, RedisError) as exc:
        print(one_line(module, url, exc), file=sys.stderr)
        return 1
    except OutageTooLong:  # it said so in one line
        return 1
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

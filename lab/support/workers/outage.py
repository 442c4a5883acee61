"""PROVIDED: workers of `python -m lab.worker` that ride out a Redis outage.

RQ 3.0's worker quits when Redis stops answering: its loop returns on a TimeoutError and
logs "found an unhandled exception, quitting..." with a traceback on anything else; its
dequeue retries forever, one log line per retry; its pubsub thread dies on a timeout.
ride(worker, ...) changes one worker instance (not RQ's classes) so that every Redis call
of its loop, of its work horse and of its threads waits for Redis instead:

- the first failure logs ONE line ("Redis at ... does not answer ...; retrying for up to
  N s (REDIS_OUTAGE_LIMIT)"), the first success after it one more ("Redis is back after
  9.2 s"); in between the worker pings Redis with backoff (0.5 s doubling to 2 s);
- past REDIS_OUTAGE_LIMIT it logs one line and exits (OutageTooLong, a SystemExit);
- SIGTERM or Ctrl-C while it waits stops it at once (RQ's StopRequested);
- a job's outcome (finished, failed, retried) waits for Redis and is then stored; a
  busy worker's heartbeats are skipped while Redis is away (the job keeps its lease).

Stopping this module from catching a Redis error that is not an outage is deliberate: it
catches only ConnectionError (refused, reset, "loading the dataset") and TimeoutError.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from redis import ConnectionPool, Redis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry
from rq import Worker
from rq.exceptions import StopRequested
from rq.scheduler import RQScheduler

from lab.support.config import hide_secrets

#: What an outage looks like to redis-py: nothing listens, the connection broke, the
#: server is still loading its data (BusyLoadingError is a ConnectionError), no answer.
REDIS_DOWN = (RedisConnectionError, RedisTimeoutError)

#: The exit code of a pool's worker that gave up on Redis: the pool stops instead of
#: starting a new worker (that would fail at once).
OUTAGE_EXIT = 75  # EX_TEMPFAIL

#: The start of the message RQ logs on each failed dequeue ("... retrying in 1 seconds").
RQ_DEQUEUE_RETRY = "Worker %s: could not connect to Redis instance"

FIRST_PAUSE, LONGEST_PAUSE = 0.5, 2.0


class OutageTooLong(SystemExit):
    """Redis did not answer for REDIS_OUTAGE_LIMIT seconds: the worker exits."""

    def __init__(self) -> None:
        super().__init__(OUTAGE_EXIT)


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {hide_secrets(str(exc)) or 'no answer'}"


def probe_client(connection: Redis) -> Redis:
    """A client to the same server that fails at once: no retries, 2 s timeouts."""
    pool = connection.connection_pool
    kwargs = {
        **pool.connection_kwargs,
        "retry": Retry(NoBackoff(), 0),
        "socket_timeout": 2,
        "socket_connect_timeout": 2,
    }
    return Redis(connection_pool=ConnectionPool(connection_class=pool.connection_class, **kwargs))


class Rider:
    """The outage state of one worker process, shared by its threads."""

    def __init__(self, worker: Worker, url: str, limit: float, log: logging.Logger):
        self.worker = worker
        self.url = url
        self.limit = limit
        self.log = log
        self.since: float | None = None  # time.monotonic() of the first failure
        self.lock = threading.Lock()
        self._probe: Redis | None = None
        self._probe_pid = 0

    def lost(self, exc: BaseException) -> None:
        """Note a failed Redis call; the first of an outage logs one line."""
        with self.lock:
            if self.since is not None:
                return
            self.since = time.monotonic()
        if getattr(self.worker, "_is_horse", False):
            job = getattr(self.worker, "_current_job_id", None) or "its job"
            self.log.warning(
                "Work horse of %s: waiting for Redis to store the outcome of %s",
                self.worker.name,
                job,
            )
            return
        self.log.warning(
            "Redis at %s does not answer (%s); retrying for up to %d s (REDIS_OUTAGE_LIMIT)",
            self.url,
            describe(exc),
            self.limit,
        )

    def back(self) -> None:
        """Note a Redis call that worked; the first after an outage logs one line."""
        if self.since is None:  # the common case, without the lock
            return
        with self.lock:
            if self.since is None:
                return
            down_for, self.since = time.monotonic() - self.since, None
        if not getattr(self.worker, "_is_horse", False):
            self.log.warning("Redis is back after %.1f s", down_for)

    def overdue(self) -> bool:
        since = self.since
        return since is not None and time.monotonic() - since >= self.limit

    def answers(self) -> bool:
        """Whether Redis answers a PING right now (a client of its own, made per process)."""
        if self._probe is None or self._probe_pid != os.getpid():
            self._probe, self._probe_pid = probe_client(self.worker.connection), os.getpid()
        try:
            return bool(self._probe.ping())
        except REDIS_DOWN:
            return False

    def wait(self, exc: BaseException) -> None:
        """Block until Redis answers again. Raises StopRequested when the worker is asked to
        stop meanwhile, OutageTooLong once the outage lasts REDIS_OUTAGE_LIMIT seconds."""
        self.lost(exc)
        pause = FIRST_PAUSE
        while True:
            if getattr(self.worker, "_stop_requested", False):
                raise StopRequested()
            if self.overdue():
                self.log.error(
                    "Redis at %s did not answer for %d s (REDIS_OUTAGE_LIMIT); the worker exits",
                    self.url,
                    self.limit,
                )
                raise OutageTooLong()
            deadline = time.monotonic() + pause
            while time.monotonic() < deadline and not getattr(self.worker, "_stop_requested", 0):
                time.sleep(0.05)
            if self.answers():
                return
            pause = min(pause * 2, LONGEST_PAUSE)

    def guard(self, call: Callable[..., Any], when_down: str = "retry") -> Callable[..., Any]:
        """`call`, which on an outage, by `when_down`: "retry" waits for Redis and calls
        again; "wait" waits for Redis and returns None (the loop calls it again); "note"
        notes the outage and returns None at once (a heartbeat during a job: the work horse
        is still to be watched)."""

        @functools.wraps(call)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            while True:
                try:
                    result = call(*args, **kwargs)
                except REDIS_DOWN as exc:
                    if when_down == "note":
                        self.lost(exc)
                        return None
                    self.wait(exc)
                    if when_down == "wait":
                        return None
                    continue
                self.back()
                return result

        return guarded


class QuietLog:
    """The worker's logger, but RQ's "could not connect to Redis instance ... retrying in
    N seconds" (once per failed dequeue) waits for Redis through the rider instead: one
    line per outage, and the outage limit applies."""

    def __init__(self, log: logging.Logger, rider: Rider):
        self._log = log
        self._rider = rider

    def error(self, msg: object, *args: Any, **kwargs: Any) -> None:
        if isinstance(msg, str) and msg.startswith(RQ_DEQUEUE_RETRY) and len(args) >= 2:
            self._rider.wait(args[1])  # RQ then sleeps 1 s and dequeues again
            return
        self._log.error(msg, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._log, name)


class RidingScheduler(RQScheduler):
    """RQ's scheduler (--with-scheduler, a pool's workers) that waits out an outage
    instead of exiting with a traceback."""

    def work(self) -> None:
        self._install_signal_handlers()
        self._quietly(self.register_birth)
        while not self._stop_requested:
            self._quietly(self._tick)
            slept = 0.0
            while slept < self.interval and not self._stop_requested:
                time.sleep(0.1)
                slept += 0.1
        self._quietly(self.stop, retry=False)

    def _tick(self) -> None:
        if self.should_reacquire_locks:
            self.acquire_locks()
        self.heartbeat()
        self.enqueue_scheduled_jobs()

    def _quietly(self, call: Callable[[], Any], retry: bool = True) -> None:
        """Call; on an outage, try again every second (the worker logs the outage)."""
        while True:
            try:
                call()
                return
            except REDIS_DOWN:
                if not retry or self._stop_requested:
                    return
                time.sleep(1)


def ride(worker: Worker, url: str, limit: float) -> Worker:
    """Make `worker` (the instance) ride out Redis outages of up to `limit` seconds."""
    rider = Rider(worker, url, limit, worker.log)
    worker.rider = rider
    worker.log = QuietLog(worker.log, rider)
    # The loop's own calls: wait for Redis, then do them again.
    # A pool's worker (re)started during an outage waits in register_birth().
    for name in ("register_birth", "subscribe", "check_for_suspension", "prepare_execution"):
        setattr(worker, name, rider.guard(getattr(worker, name)))
    for name in ("heartbeat", "set_state"):  # no I/O of their own when given a pipeline
        setattr(worker, name, retrying_unless_pipelined(rider, getattr(worker, name)))
    # A job's outcome (in the horse, or in-process for a SimpleWorker): stored once Redis
    # is back. A transaction whose answer was lost may be applied twice: counters only.
    for name in (
        "prepare_job_execution",
        "handle_execution_ended",
        "handle_job_success",
        "handle_job_failure",
        "handle_job_retry",
    ):
        setattr(worker, name, rider.guard(getattr(worker, name)))
    worker.run_maintenance_tasks = rider.guard(worker.run_maintenance_tasks, "wait")
    worker.maintain_heartbeats = rider.guard(worker.maintain_heartbeats, "note")
    worker.set_shutdown_requested_date = quietly(worker.set_shutdown_requested_date)
    worker._pubsub_exception_handler = pubsub_handler(worker)
    worker.teardown = teardown(worker)
    worker.execute_job = executing(worker, rider, worker.execute_job)
    worker._start_scheduler = rider.guard(starting_scheduler(worker))
    return worker


def retrying_unless_pipelined(rider: Rider, call: Callable[..., Any]) -> Callable[..., Any]:
    guarded = rider.guard(call)

    @functools.wraps(call)
    def either(*args: Any, pipeline: Any = None, **kwargs: Any) -> Any:
        if pipeline is not None:
            return call(*args, pipeline=pipeline, **kwargs)
        return guarded(*args, **kwargs)

    return either


def quietly(call: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(call)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return call(*args, **kwargs)
        except REDIS_DOWN:
            return None

    return guarded


def pubsub_handler(worker: Worker) -> Callable[..., None]:
    """The command thread's handler: on an outage it waits 1 s and listens again (redis-py
    subscribes again on reconnect), without a line of its own; anything else ends the
    thread with one line instead of a traceback."""

    def handle(exc: BaseException, pubsub: Any, thread: Any) -> None:
        if isinstance(exc, REDIS_DOWN):  # the worker's own calls say so, once
            time.sleep(1)
            return
        worker.log.warning("Worker %s: stops listening for commands (%s)", worker.name, exc)
        thread.stop()

    return handle


def teardown(worker: Worker) -> Callable[[], None]:
    """RQ's teardown (stop the scheduler, register the death, unsubscribe); with Redis
    away, it still stops the command thread, and the worker's key expires on its own. A
    stop signal that arrives meanwhile (a pool stops its workers) does not interrupt it."""
    original = worker.teardown

    def tear_down() -> None:
        for _ in range(3):  # a stop signal during the teardown (a pool's) raises: again
            try:
                original()
                return
            except StopRequested:
                continue
            except REDIS_DOWN:
                stop_listening(worker)
                return

    return tear_down


def stop_listening(worker: Worker) -> None:
    """Stop the command thread and close its connection, with Redis away. redis-py 8.2's
    stop() waits for the thread (at most COMMAND_POLL); a stop signal meanwhile (a pool
    stops its workers) must not interrupt it with a traceback."""
    for _ in range(3):
        try:
            if worker.pubsub_thread is not None:
                worker.pubsub_thread.stop()
            if getattr(worker, "pubsub", None) is not None:
                worker.pubsub.close()
            return
        except StopRequested:
            continue
        except Exception:  # noqa: BLE001 - a broken connection closes anyway
            return


def executing(worker: Worker, rider: Rider, execute_job: Callable[..., Any]) -> Callable[..., Any]:
    """execute_job: a forking worker reads the job's status once its horse exits, now
    waiting for Redis; a SimpleWorker beats its heartbeat every JOB_HEARTBEAT seconds from a
    thread while it runs the job (RQ's sends none). Whatever else fails on an outage leaves
    the job started: its lease runs out and maintenance fails or retries it."""

    def execute(job: Any, queue: Any) -> Any:
        job.get_status = rider.guard(job.get_status)
        worker._current_job_id = job.id
        beating = None if isinstance(worker, Worker) else Beating(worker, job)
        try:
            return execute_job(job, queue)
        except REDIS_DOWN as exc:
            rider.wait(exc)
            return None
        finally:
            if beating is not None:
                beating.stop()
            worker._current_job_id = None

    return execute


class Beating:
    """A thread that calls worker.maintain_heartbeats(job, execution) every
    job_monitoring_interval seconds while a SimpleWorker runs `job`."""

    def __init__(self, worker: Worker, job: Any):
        self.worker = worker
        self.job = job
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, name="job-heartbeat", daemon=True)
        self.thread.start()

    def run(self) -> None:
        while not self.done.wait(self.worker.job_monitoring_interval):
            execution = next(iter(list(self.worker.executions.values())), None)
            if execution is not None and not self.done.is_set():
                try:
                    self.worker.maintain_heartbeats(self.job, execution)  # skips on an outage
                except Exception as exc:  # noqa: BLE001 - a beat must not end the job
                    self.worker.log.debug("job heartbeat failed: %s", exc)

    def stop(self) -> None:
        self.done.set()
        self.thread.join(timeout=5)


def starting_scheduler(worker: Worker) -> Callable[..., None]:
    """BaseWorker._start_scheduler with RidingScheduler instead of RQScheduler."""

    def start(burst: bool = False, logging_level: Any = "INFO", date_format: Any = None,
              log_format: Any = None) -> None:  # fmt: skip
        from rq.defaults import DEFAULT_LOGGING_DATE_FORMAT, DEFAULT_LOGGING_FORMAT

        worker.scheduler = RidingScheduler(
            worker.queues,
            connection=worker.connection,
            logging_level=logging_level if logging_level is not None else worker.log.level,
            date_format=date_format or DEFAULT_LOGGING_DATE_FORMAT,
            log_format=log_format or DEFAULT_LOGGING_FORMAT,
            serializer=worker.serializer,
        )
        worker.scheduler.acquire_locks()
        if worker.scheduler.acquired_locks:
            if burst:
                try:
                    worker.scheduler.register_birth()
                    worker.scheduler.enqueue_scheduled_jobs()
                finally:
                    worker.scheduler.release_locks()
                    worker.scheduler.register_death()
            else:
                worker.scheduler.start()

    return start

"""PROVIDED: how the workbook's workers ride out a Redis outage (classes.py uses it).

RQ 3.0's worker quits when Redis stops answering: its loop returns on a TimeoutError and
logs "found an unhandled exception, quitting..." with a traceback on anything else; its
dequeue and its command thread retry forever, one log line per retry; its scheduler exits.
The workbook's worker talks to Redis through a client whose redis-py `Retry` is an Outage:
every Redis command of the worker, of its work horse and of its threads waits for Redis.

- each command is tried again with backoff (0.1 s doubling to 1 s); the first to fail
  twice logs ONE line ("Redis at ... does not answer ...; retrying for up to N s
  (REDIS_OUTAGE_LIMIT)"), the first to work after it one more ("Redis is back after 9.2 s");
- past REDIS_OUTAGE_LIMIT it logs one line and exits (OutageTooLong, a SystemExit);
- SIGTERM or Ctrl-C stops an idle worker at once (RQ's signal handler raises StopRequested
  out of the wait); a busy one first stores its job's outcome, as RQ's warm shutdown waits
  for the job (a second signal stops it at once);
- a job's outcome (finished, failed, retried) waits for Redis and is then stored; a
  transaction whose answer was lost may be applied twice (RQ's counters).

Only what redis-py retries is an outage: ConnectionError (refused, reset, "loading the
dataset") and TimeoutError.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from redis import ConnectionPool, Redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry
from rq.connections import parse_connection
from rq.scheduler import RQScheduler

from lab.support.config import hide_secrets

#: What an outage looks like to redis-py: nothing listens, the connection broke, the
#: server is still loading its data (BusyLoadingError is a ConnectionError), no answer.
REDIS_DOWN = (RedisConnectionError, RedisTimeoutError)

#: The exit code of a pool's worker that gave up on Redis: the pool stops instead of
#: starting a new worker (that would fail at once).
OUTAGE_EXIT = 75  # EX_TEMPFAIL


class OutageTooLong(SystemExit):
    """Redis did not answer for REDIS_OUTAGE_LIMIT seconds: the worker exits."""

    def __init__(self) -> None:
        super().__init__(OUTAGE_EXIT)


def client_like(connection: Redis, retry: Retry) -> Redis:
    """A client of its own to the server of `connection`, with the same settings but `retry`."""
    client_class, connection_class, kwargs = parse_connection(connection)
    pool = ConnectionPool(connection_class=connection_class, **{**kwargs, "retry": retry})
    return client_class(connection_pool=pool)


class Outage(Retry):
    """redis-py's Retry for the connections of one worker process: a command that fails on
    an outage is tried again, with backoff, for as long as the outage lasts.

    redis-py's Retry does the retrying and the backoff. It has no notion of how long an
    outage has lasted, of an outage as one event, or of a worker that must stop: those are
    added here. A command that fails again goes through failed(), which logs the outage's
    first line, raises OutageTooLong past REDIS_OUTAGE_LIMIT and gives up in a hurry();
    a command that works after failing ends the outage (back())."""

    def __init__(self, worker: Any, url: str, limit: float):
        super().__init__(ExponentialBackoff(cap=1.0, base=0.05), retries=-1)
        self.worker, self.url, self.limit = worker, url, limit
        self.since: float | None = None  # time.monotonic() of the outage's first failure
        self.hurrying = 0
        self.gave_up = False
        self.lock = threading.RLock()  # a signal handler may need it while its thread holds it

    def __deepcopy__(self, memo: dict) -> Outage:
        """redis-py copies a client's retry into each of its connections; all the worker's
        connections share one outage, so the copy is this object."""
        return self

    def call_with_retry(self, do: Callable[[], Any], fail: Callable[..., Any], *args, **kwargs):
        """Retry.call_with_retry(), with failed() after redis-py's own handling (it closes
        the connection) of each failure but the first, and back() after a success.

        A first failure is only retried: after an outage, each connection of the pool
        fails once on its old socket although Redis is back."""
        first: list[Exception] = []

        def failure(error: Exception, *count: int) -> None:
            fail(error, *count)
            if first:
                self.failed(error, first[0])
            first.append(error)

        result = super().call_with_retry(do, failure, *args, **kwargs)
        if first:  # (a success at once may not have reached Redis: connect() when connected)
            self.back()
        return result

    def failed(self, error: Exception, cause: Exception) -> None:
        """Note a command that failed again (first with `cause`); raise `error` (so that it
        is tried no more) in a hurry, or once the outage has lasted REDIS_OUTAGE_LIMIT s."""
        self.lost(cause)
        if self.hurrying:
            raise error
        since = self.since
        if since is not None and time.monotonic() - since >= self.limit:
            with self.lock:
                first, self.gave_up = not self.gave_up, True
            if first:
                self.worker.log.error(
                    "Redis at %s did not answer for %d s (REDIS_OUTAGE_LIMIT); the worker exits",
                    self.url,
                    self.limit,
                )
            raise OutageTooLong()

    @contextlib.contextmanager
    def hurry(self) -> Iterator[None]:
        """Within it, a command that fails again is given up: a worker that tears down, or
        writes from its signal handler, must not wait for Redis."""
        self.hurrying += 1
        try:
            yield
        finally:
            self.hurrying -= 1

    def lost(self, error: Exception) -> None:
        """The outage's first failure logs one line (a work horse's says what it waits for)."""
        with self.lock:
            if self.since is not None:
                return
            self.since = time.monotonic()
        worker = self.worker
        if worker.is_horse:
            job = next((e.job_id for e in list(worker.executions.values())), "its job")
            worker.log.warning(
                "Work horse of %s: waiting for Redis to store the outcome of %s", worker.name, job
            )
            return
        worker.log.warning(
            "Redis at %s does not answer (%s: %s); retrying for up to %d s (REDIS_OUTAGE_LIMIT)",
            self.url,
            type(error).__name__,
            hide_secrets(str(error)) or "no answer",
            self.limit,
        )

    def back(self) -> None:
        """The first command that works after an outage logs one line."""
        if self.since is None:  # the common case, without the lock
            return
        with self.lock:
            if self.since is None:
                return
            down_for, self.since = time.monotonic() - self.since, None
        if not self.worker.is_horse:
            self.worker.log.warning("Redis is back after %.1f s", down_for)


class RidingScheduler(RQScheduler):
    """RQ's scheduler (--with-scheduler, a pool's workers) that waits out an outage.

    It runs in a process of its own, on a client that does not wait for Redis (the worker's
    Outage belongs to the worker): it waits itself, and looks every 0.1 s whether it was
    asked to stop meanwhile, which redis-py's Retry cannot do (it sleeps between tries)."""

    def work(self) -> None:
        """RQ's loop raises on an outage: the scheduler exits with a traceback ("Scheduler
        raised an exception") and only a later maintenance starts another. Here RQ's loop
        starts again (tried every second) until the scheduler is asked to stop."""
        while True:
            try:
                return super().work()
            except REDIS_DOWN:
                deadline = time.monotonic() + 1
                while time.monotonic() < deadline:
                    if self._stop_requested:  # its locks expire after interval + 60 s
                        return
                    time.sleep(0.1)

    def acquire_locks(self, auto_start: bool = False) -> set[str]:
        """RQ's raises on an outage, in the worker's process too (its maintenance starts a
        scheduler again). Here no lock is taken: the next maintenance tries again."""
        try:
            return super().acquire_locks(auto_start)
        except REDIS_DOWN:
            return set()

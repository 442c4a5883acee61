"""PROVIDED: what every peer's app and the bench share.

- The fake email, the same in every library: wait `delay` seconds, then ONE Redis write,
  `RPUSH peers:done <time>`, so that every library's finish times are read the same way,
  from Redis. The crash job also writes its start (`RPUSH peers:started "<time> <pid>"`):
  the bench sees from it when the job runs, in which worker, and whether it runs again.
- The settings an app reads from its environment when its worker imports it: the private
  Redis' URL (PEERS_REDIS_URL) and the case's settings (PEERS_SETTINGS, JSON), as a real
  app reads its configuration from the environment.
- Peer, the shape of a library's adapter (<library>_peer.py): its worker commands
  (Config), how it enqueues one job and many, and its crash cases (CrashCase).
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

DONE_KEY = "peers:done"
STARTED_KEY = "peers:started"
ADDRESS = "peer@example.com"
URL_VARIABLE = "PEERS_REDIS_URL"
SETTINGS_VARIABLE = "PEERS_SETTINGS"
#: The queue every library uses, where it lets one name it.
QUEUE = "peers"


def redis_url() -> str:
    """The private Redis of this run (the bench sets PEERS_REDIS_URL for every process)."""
    try:
        return os.environ[URL_VARIABLE]
    except KeyError:
        raise RuntimeError(
            f"{URL_VARIABLE} is not set: this app is run by `python -m lab bench peers`"
        ) from None


def settings() -> dict[str, Any]:
    """The case's settings (PEERS_SETTINGS, a JSON object; {} when unset)."""
    return json.loads(os.environ.get(SETTINGS_VARIABLE) or "{}")


_client = None
_async_clients: dict[int, Any] = {}


def finished() -> None:
    """The email's one Redis write (sync libraries): its finish time, into a list."""
    global _client
    if _client is None:
        from redis import Redis

        _client = Redis.from_url(redis_url())
    _client.rpush(DONE_KEY, repr(time.time()))


def started_mark() -> str:
    """The crash job's start: "<time> <pid>", the pid saying which worker runs it."""
    return f"{time.time()!r} {os.getpid()}"


def started() -> None:
    """The crash job's start (sync libraries)."""
    from redis import Redis

    with Redis.from_url(redis_url()) as client:
        client.rpush(STARTED_KEY, started_mark())


async def _async_client():  # noqa: ANN202 - a redis.asyncio.Redis
    """One client per event loop (a client is bound to the loop it first ran on)."""
    import asyncio

    from redis.asyncio import Redis

    loop = id(asyncio.get_running_loop())
    if loop not in _async_clients:
        _async_clients[loop] = Redis.from_url(redis_url())
    return _async_clients[loop]


async def finished_async() -> None:
    """The email's one Redis write (asyncio libraries)."""
    await (await _async_client()).rpush(DONE_KEY, repr(time.time()))


async def started_async() -> None:
    """The crash job's start (asyncio libraries)."""
    await (await _async_client()).rpush(STARTED_KEY, started_mark())


async def gathered(make: Any, count: int, limit: int = 50) -> None:
    """`count` calls of the coroutine function `make` at once, `limit` at a time at most:
    a connection pool hands out 100 connections at most (redis-py's default)."""
    import asyncio

    gate = asyncio.Semaphore(limit)

    async def one() -> None:
        async with gate:
            await make()

    await asyncio.gather(*(one() for _ in range(count)))


def app_module(library: str) -> str:
    """The module a library's worker imports: its app and the email task."""
    return f"lab.support.experiments.peers.{library}_app"


def peer_module(library: str) -> str:
    """The module of a library's adapter for the bench."""
    return f"lab.support.experiments.peers.{library}_peer"


def python_m(*args: str) -> list[str]:
    """`python -m ...` with this interpreter (the project's .venv)."""
    return [sys.executable, "-m", *args]


@dataclass(frozen=True)
class Config:
    """One worker configuration: the command and settings for no-op jobs, and the same
    configuration made 8-way for the sleep-bound jobs."""

    name: str
    concurrency: str
    """The concurrency model in words: "prefork, 2 processes", "asyncio, max_jobs 10"."""
    noop: list[str]
    eight: list[str]
    noop_settings: dict = field(default_factory=dict)
    eight_settings: dict = field(default_factory=dict)
    env: dict = field(default_factory=dict)


@dataclass(frozen=True)
class CrashCase:
    """A setting under which a busy worker is killed (-9): its worker command, the settings
    its app reads, and how long to watch for the job to run again or fail. `quick` holds
    the scaled-down settings of --quick (None: not run by --quick)."""

    name: str
    at_least_once: bool
    describe: str
    worker: list[str]
    settings: dict
    watch_s: float
    quick: dict | None
    quick_watch_s: float = 15.0
    quick_worker: list[str] | None = None
    env: dict = field(default_factory=dict)
    quick_env: dict = field(default_factory=dict)


class Peer:
    """A library's adapter for the bench (<library>_peer.py): its worker configurations,
    which calls enqueue one job and many, its crash cases. It imports its app
    (<library>_app.py, `self.app`) only when made, once the bench has set the app's
    environment; the asyncio libraries run their calls on a loop of their own (run())."""

    name = ""
    package = ""
    """The distribution whose version is reported."""
    single_call = ""
    bulk_call = ""
    real_bulk = False
    """True when the bulk call sends its jobs in one round trip (a pipeline), False when it
    loops over single enqueues or gathers them concurrently."""
    configs: tuple[Config, ...] = ()
    crash_cases: tuple[CrashCase, ...] = ()

    def __init__(self) -> None:
        import importlib

        self._loop = None
        self.app = importlib.import_module(app_module(self.name))

    def run(self, coroutine):  # noqa: ANN001, ANN201 - any coroutine
        """Run `coroutine` on this adapter's own event loop (kept open: its clients stay
        bound to it). asyncio.Runner would do, but Python 3.10 has none."""
        import asyncio

        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        return self._loop.run_until_complete(coroutine)

    def enqueue(self, delay: float) -> Any:
        """Enqueue one email with `delay`; return what identifies its job."""
        raise NotImplementedError

    def enqueue_slow(self, delay: float) -> Any:
        """Enqueue the crash job (it also records its start); return its handle."""
        raise NotImplementedError

    def single(self, count: int) -> list[float]:
        """Seconds of each of `count` single enqueues of a no-op email."""
        latencies = []
        for _ in range(count):
            started_at = time.perf_counter()
            self.enqueue(0)
            latencies.append(time.perf_counter() - started_at)
        return latencies

    def bulk(self, count: int, delay: float = 0) -> float:
        """Seconds to enqueue `count` emails with the library's bulk call."""
        raise NotImplementedError

    def reset(self) -> None:
        """Called after the bench emptied the database (taskiq declares its group again)."""

    def failed(self, handle: Any) -> bool:
        """Whether the library has marked the crash job failed (or aborted)."""
        return False

    def state(self, handle: Any) -> str | None:
        """The crash job's status as the library keeps it, where it keeps one (RQ, saq)."""
        return None

    def close(self) -> None:
        if self._loop is not None:
            self._loop.close()
            self._loop = None

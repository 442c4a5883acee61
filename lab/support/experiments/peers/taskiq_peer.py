"""PROVIDED: how `python -m lab bench peers` drives taskiq (taskiq_app.py).

Jobs are sent with `await task.kiq(...)` after `await broker.startup()`; taskiq has no bulk
enqueue. The worker is `taskiq worker <app>:broker`: 2 processes, up to 100 jobs at a time
in each. RedisStreamBroker (a Redis stream and a consumer group) acknowledges a message
when its job ends; a dead worker's message is claimed by another worker once it has been
idle for `idle_timeout` (600 s), checked after that worker reads new messages.
ListQueueBroker (a list, BRPOP) has no acknowledgement: a killed worker's job is gone.
"""

from __future__ import annotations

import time

from lab.support.experiments.peers import common
from lab.support.experiments.peers.common import Config, CrashCase, app_module, python_m


def worker(*args: str) -> list[str]:
    return python_m(
        "taskiq", "worker", f"{app_module('taskiq')}:broker", "--log-level", "WARNING", *args
    )


#: --quick's crash cases: one process each, lighter to start (the outcome is the same).
QUICK_WORKER = worker("--workers", "1")


class Peer(common.Peer):
    name = "taskiq"
    package = "taskiq"
    single_call = "await task.kiq()"
    bulk_call = "asyncio.gather(task.kiq() ...), 50 at a time"
    real_bulk = False  # no bulk call: concurrent single enqueues
    configs = (
        Config(
            "default",
            "asyncio, 2 processes (RedisStreamBroker), up to 100 jobs each",
            noop=worker(),
            eight=worker("--workers", "1", "--max-async-tasks", "8"),
        ),
    )
    crash_cases = (
        CrashCase(
            "list broker",
            at_least_once=False,
            describe="ListQueueBroker: BRPOP, no acknowledgement; a killed worker's job is gone",
            worker=worker(),
            settings={"broker": "list"},
            watch_s=60,
            quick={"broker": "list"},
            quick_worker=QUICK_WORKER,
            quick_watch_s=6,
        ),
        CrashCase(
            "defaults",
            at_least_once=True,
            describe="RedisStreamBroker: claimed by another worker once idle for idle_timeout"
            " (600 s)",
            worker=worker(),
            settings={},
            watch_s=700,
            quick=None,
        ),
        CrashCase(
            "at-least-once",
            at_least_once=True,
            describe="RedisStreamBroker with idle_timeout 10 s (quick: 2 s)",
            worker=worker(),
            settings={"idle_timeout": 10_000},
            watch_s=60,
            quick={"idle_timeout": 2_000},
            quick_worker=QUICK_WORKER,
            quick_watch_s=10,
        ),
    )

    def __init__(self) -> None:
        super().__init__()
        self.run(self.app.broker.startup())

    def reset(self) -> None:
        self.run(self.app.broker.startup())  # the stream's consumer group, gone with the database

    def enqueue(self, delay: float):  # noqa: ANN201
        return self.run(self.app.send_email.kiq(common.ADDRESS, delay))

    def enqueue_slow(self, delay: float):  # noqa: ANN201
        return self.run(self.app.send_slow_email.kiq(common.ADDRESS, delay))

    def single(self, count: int) -> list[float]:
        async def timed() -> list[float]:
            latencies = []
            for _ in range(count):
                started_at = time.perf_counter()
                await self.app.send_email.kiq(common.ADDRESS, 0)
                latencies.append(time.perf_counter() - started_at)
            return latencies

        return self.run(timed())

    def bulk(self, count: int, delay: float = 0) -> float:
        started_at = time.perf_counter()
        self.run(common.gathered(lambda: self.app.send_email.kiq(common.ADDRESS, delay), count))
        return time.perf_counter() - started_at

    def close(self) -> None:
        self.run(self.app.broker.shutdown())
        super().close()

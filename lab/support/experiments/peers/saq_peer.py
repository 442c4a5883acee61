"""PROVIDED: how `python -m lab bench peers` drives saq (saq_app.py).

Jobs are sent with `await queue.enqueue("send_email", ...)`; saq has no bulk enqueue
(`map()` gathers enqueues, then waits for the results). The worker is `saq <app>.settings`:
one process running up to 10 jobs at a time (`--workers 2`: two processes). A job whose
worker died is "stuck" once its `timeout` (10 s) is over; the sweep (every 60 s) aborts
it, or queues it again while it has `retries` left (default 1: one attempt in all).
"""

from __future__ import annotations

import time

from lab.support.experiments.peers import common
from lab.support.experiments.peers.common import Config, CrashCase, app_module, python_m


def worker(*args: str) -> list[str]:
    return python_m("saq", f"{app_module('saq')}.settings", *args)


#: --quick's timers: a job is stuck 3 s after it started, and swept every second.
QUICK = {"timeout": 3, "sweep": 1}


class Peer(common.Peer):
    name = "saq"
    package = "saq"
    single_call = "await queue.enqueue()"
    bulk_call = "asyncio.gather(queue.enqueue() ...), 50 at a time"
    real_bulk = False  # no bulk call (map() gathers enqueues, then waits for results)
    configs = (
        Config(
            "default",
            "asyncio, one process, up to 10 jobs at a time",
            noop=worker(),
            eight=worker(),
            eight_settings={"concurrency": 8},
        ),
        Config(
            "best",
            "asyncio, 2 processes (--workers 2), up to 10 jobs each",
            noop=worker("--workers", "2"),
            eight=worker("--workers", "2"),
            eight_settings={"concurrency": 4},
        ),
    )
    crash_cases = (
        CrashCase(
            "defaults",
            at_least_once=False,
            describe="retries=1 (one attempt): the sweep aborts the stuck job",
            worker=worker(),
            settings={},
            watch_s=180,
            quick=QUICK,
            quick_watch_s=20,
        ),
        CrashCase(
            "at-least-once",
            at_least_once=True,
            describe="retries=2: the sweep queues the stuck job again",
            worker=worker(),
            settings={"retries": 2},
            watch_s=180,
            quick={**QUICK, "retries": 2},
            quick_watch_s=20,
        ),
    )

    def __init__(self) -> None:
        super().__init__()
        self.run(self.app.queue.connect())

    def enqueue(self, delay: float):  # noqa: ANN201
        return self.run(self.app.queue.enqueue("send_email", address=common.ADDRESS, delay=delay))

    def enqueue_slow(self, delay: float):  # noqa: ANN201
        settings = common.settings()
        options = {key: settings[key] for key in ("retries", "timeout") if key in settings}
        return self.run(
            self.app.queue.enqueue(
                "send_slow_email", address=common.ADDRESS, delay=delay, **options
            )
        )

    def single(self, count: int) -> list[float]:
        async def timed() -> list[float]:
            latencies = []
            for _ in range(count):
                started_at = time.perf_counter()
                await self.app.queue.enqueue("send_email", address=common.ADDRESS, delay=0)
                latencies.append(time.perf_counter() - started_at)
            return latencies

        return self.run(timed())

    def bulk(self, count: int, delay: float = 0) -> float:
        def one():  # noqa: ANN202
            return self.app.queue.enqueue("send_email", address=common.ADDRESS, delay=delay)

        started_at = time.perf_counter()
        self.run(common.gathered(one, count))
        return time.perf_counter() - started_at

    def failed(self, handle) -> bool:  # noqa: ANN001 - a saq Job
        return self.state(handle) in ("aborted", "failed")

    def state(self, handle) -> str | None:  # noqa: ANN001 - a saq Job
        job = self.run(self.app.queue.job(handle.key))
        return None if job is None else str(job.status.value)

    def close(self) -> None:
        self.run(self.app.queue.disconnect())
        super().close()

"""PROVIDED: how `python -m lab bench peers` drives arq (arq_app.py).

The worker is `arq <app>.WorkerSettings`: one process running up to `max_jobs` (10) jobs
at a time, polling the queue every `poll_delay` (0.5 s). arq has no bulk enqueue. A job
stays in the queue while it runs, with an "in progress" key that expires `job_timeout`
(300 s) + 10 s after it started: then another worker runs it again.
"""

from __future__ import annotations

import time

from lab.support.experiments.peers import common
from lab.support.experiments.peers.common import Config, CrashCase, app_module, python_m

WORKER = python_m("arq", f"{app_module('arq')}.WorkerSettings")
TUNED = {"max_jobs": 100, "poll_delay": 0.02}


class Peer(common.Peer):
    name = "arq"
    package = "arq"
    single_call = "await pool.enqueue_job()"
    bulk_call = "asyncio.gather(pool.enqueue_job() ...), 50 at a time"
    real_bulk = False  # no bulk call: concurrent single enqueues
    configs = (
        Config(
            "default",
            "asyncio, one process: max_jobs 10, polls every 0.5 s",
            noop=WORKER,
            eight=WORKER,
            eight_settings={"max_jobs": 8},
        ),
        Config(
            "best",
            "asyncio, one process: max_jobs 100, polls every 0.02 s",
            noop=WORKER,
            eight=WORKER,
            noop_settings=TUNED,
            eight_settings={**TUNED, "max_jobs": 8},
        ),
    )
    crash_cases = (
        CrashCase(
            "defaults",
            at_least_once=True,
            describe="the job stays queued while it runs; run again once its in-progress"
            " key expires, job_timeout (300 s) + 10 s after it started",
            worker=WORKER,
            settings={},
            watch_s=400,
            quick=None,
        ),
        CrashCase(
            "at-least-once",
            at_least_once=True,
            describe="a shorter job_timeout (10 s; quick: 3 s): run again 10 s after that",
            worker=WORKER,
            settings={"job_timeout": 10},
            watch_s=60,
            quick={"job_timeout": 3},
            quick_watch_s=20,
        ),
    )

    def __init__(self) -> None:
        super().__init__()
        from arq import create_pool

        self.pool = self.run(create_pool(self.app.WorkerSettings.redis_settings))

    def enqueue(self, delay: float):  # noqa: ANN201
        return self.run(self.pool.enqueue_job("send_email", common.ADDRESS, delay))

    def enqueue_slow(self, delay: float):  # noqa: ANN201
        return self.run(self.pool.enqueue_job("send_slow_email", common.ADDRESS, delay))

    def single(self, count: int) -> list[float]:
        async def timed() -> list[float]:
            latencies = []
            for _ in range(count):
                started_at = time.perf_counter()
                await self.pool.enqueue_job("send_email", common.ADDRESS, 0)
                latencies.append(time.perf_counter() - started_at)
            return latencies

        return self.run(timed())

    def bulk(self, count: int, delay: float = 0) -> float:
        def one():  # noqa: ANN202
            return self.pool.enqueue_job("send_email", common.ADDRESS, delay)

        started_at = time.perf_counter()
        self.run(common.gathered(one, count))
        return time.perf_counter() - started_at

    def close(self) -> None:
        self.run(self.pool.aclose())
        super().close()

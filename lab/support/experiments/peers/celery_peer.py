"""PROVIDED: how `python -m lab bench peers` drives Celery (celery_app.py).

The worker is `celery --app <app> worker`: prefork, one process per core. By default
Celery acknowledges a message when its job starts, so the job of a killed worker is gone;
`acks_late` + `reject_on_worker_lost` keep the message in Redis until the job ends, and
the Redis transport hands it out again once its visibility timeout is over.
"""

from __future__ import annotations

import time

from lab.support.experiments.peers import common
from lab.support.experiments.peers.common import Config, CrashCase, app_module, python_m


def worker(*args: str) -> list[str]:
    return python_m(
        "celery", "--app", app_module("celery"), "worker", "--loglevel", "WARNING", *args
    )


AT_LEAST_ONCE = {"acks_late": True, "reject_on_worker_lost": True}


#: --quick's crash cases: one process each, lighter to start (the outcome is the same).
QUICK_WORKER = worker("--concurrency", "1")


class Peer(common.Peer):
    name = "celery"
    package = "celery"
    single_call = "task.delay()"
    bulk_call = "group(...).apply_async()"
    real_bulk = False  # one publish per task, in a loop
    configs = (
        Config(
            "default",
            "prefork: one process per core (2)",
            noop=worker(),
            eight=worker("--concurrency", "8"),
        ),
    )
    crash_cases = (
        CrashCase(
            "defaults",
            at_least_once=False,
            describe="acknowledged when the job starts: a killed worker's job is gone",
            worker=worker(),
            settings={},
            watch_s=60,
            quick={},
            quick_worker=QUICK_WORKER,
            quick_watch_s=6,
        ),
        CrashCase(
            "at-least-once",
            at_least_once=True,
            describe="acks_late + reject_on_worker_lost; the message comes back after the"
            " Redis transport's visibility_timeout (30 s; quick: 3 s)",
            worker=worker(),
            settings={
                **AT_LEAST_ONCE,
                "transport": {
                    "visibility_timeout": 30,
                    "unacked_restore_interval": 5,
                    "unacked_restore_throttle": 1,
                },
            },
            watch_s=120,
            quick={
                **AT_LEAST_ONCE,
                "transport": {
                    "visibility_timeout": 3,
                    "unacked_restore_interval": 1,
                    "unacked_restore_throttle": 1,
                },
            },
            quick_worker=QUICK_WORKER,
            quick_watch_s=12,
        ),
    )

    def enqueue(self, delay: float):  # noqa: ANN201
        return self.app.send_email.delay(common.ADDRESS, delay)

    def enqueue_slow(self, delay: float):  # noqa: ANN201
        return self.app.send_slow_email.delay(common.ADDRESS, delay)

    def bulk(self, count: int, delay: float = 0) -> float:
        from celery import group

        started_at = time.perf_counter()
        group(self.app.send_email.s(common.ADDRESS, delay) for _ in range(count)).apply_async()
        return time.perf_counter() - started_at

"""PROVIDED: how `python -m lab bench peers` drives Dramatiq (dramatiq_app.py).

The worker is `dramatiq <app>`: one process per core, 8 threads each. Dramatiq
acknowledges a message when its job ends (at least once, by default): a killed worker's
messages are put back by the maintenance another worker runs now and then (a chance of
1 in 1,000 commands), once the dead one missed its heartbeats for `heartbeat_timeout`
(60 s).
"""

from __future__ import annotations

import time

from lab.support.experiments.peers import common
from lab.support.experiments.peers.common import Config, CrashCase, app_module, python_m


def worker(*args: str) -> list[str]:
    return python_m("dramatiq", app_module("dramatiq"), *args)


#: --quick's crash cases: one process each, lighter to start (the outcome is the same).
QUICK_WORKER = worker("--processes", "1", "--threads", "1")


class Peer(common.Peer):
    name = "dramatiq"
    package = "dramatiq"
    single_call = "actor.send()"
    bulk_call = "group(...).run()"
    real_bulk = False  # group.run() sends its messages one by one
    configs = (
        Config(
            "default",
            "one process per core (2) x 8 threads",
            noop=worker(),
            eight=worker("--processes", "1", "--threads", "8"),
        ),
    )
    crash_cases = (
        CrashCase(
            "defaults",
            at_least_once=True,
            describe="acknowledged when the job ends; put back by another worker's"
            " maintenance (a chance of 1 in 1,000 commands) once the dead worker missed"
            " heartbeat_timeout (60 s; quick: 2 s, maintenance at every command)",
            worker=worker(),
            settings={},
            watch_s=600,
            quick={"broker": {"heartbeat_timeout": 2000, "maintenance_chance": 1_000_000}},
            quick_worker=QUICK_WORKER,
            quick_watch_s=12,
        ),
    )

    def enqueue(self, delay: float):  # noqa: ANN201
        return self.app.send_email.send(common.ADDRESS, delay)

    def enqueue_slow(self, delay: float):  # noqa: ANN201
        return self.app.send_slow_email.send(common.ADDRESS, delay)

    def bulk(self, count: int, delay: float = 0) -> float:
        import dramatiq

        started_at = time.perf_counter()
        messages = (self.app.send_email.message(common.ADDRESS, delay) for _ in range(count))
        dramatiq.group(messages).run()
        return time.perf_counter() - started_at

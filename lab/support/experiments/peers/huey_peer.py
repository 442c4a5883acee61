"""PROVIDED: how `python -m lab bench peers` drives huey (huey_app.py).

The consumer is `huey_consumer <app>.huey`: one worker thread by default; `-w 2 -k process`
runs two processes. huey pops a job off its list and runs it, with no acknowledgement: the
job of a killed consumer is gone, and huey has no setting that keeps it.
"""

from __future__ import annotations

import time

from lab.support.experiments.peers import common
from lab.support.experiments.peers.common import Config, CrashCase, app_module, python_m


def consumer(*args: str) -> list[str]:
    return python_m("huey.bin.huey_consumer", f"{app_module('huey')}.huey", "--quiet", *args)


class Peer(common.Peer):
    name = "huey"
    package = "huey"
    single_call = "task(...)"
    bulk_call = "task.map()"
    real_bulk = False  # map() enqueues its tasks one by one
    configs = (
        Config(
            "default",
            "one worker thread",
            noop=consumer(),
            eight=consumer("--workers", "8", "--worker-type", "thread"),
        ),
        Config(
            "best",
            "2 worker processes (-w 2 -k process)",
            noop=consumer("--workers", "2", "--worker-type", "process"),
            eight=consumer("--workers", "8", "--worker-type", "process"),
        ),
    )
    crash_cases = (
        CrashCase(
            "defaults",
            at_least_once=False,
            describe="popped and run, never acknowledged: a killed consumer's job is gone",
            worker=consumer(),
            settings={},
            watch_s=60,
            quick={},
            quick_watch_s=6,
        ),
    )

    def enqueue(self, delay: float):  # noqa: ANN201
        return self.app.send_email(common.ADDRESS, delay)

    def enqueue_slow(self, delay: float):  # noqa: ANN201
        return self.app.send_slow_email(common.ADDRESS, delay)

    def bulk(self, count: int, delay: float = 0) -> float:
        started_at = time.perf_counter()
        self.app.send_email.map([(common.ADDRESS, delay)] * count)
        return time.perf_counter() - started_at

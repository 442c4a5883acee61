"""PROVIDED: how `python -m lab bench peers` drives RQ (rq_app.py).

Workers: RQ's stock `rq worker` (a `Worker` forks a work horse per job) and
`rq worker-pool -n N` (N workers; a SimpleWorker runs jobs in its own process). The crash
cases: stock `rq worker` fails a killed worker's job once its lease (90 s) is over, at
the next maintenance of an idle worker (every 405-810 s); the workbook's worker
(`python -m solutions.worker`) with `Retry` runs it again after JOB_LEASE, at its next
maintenance (MAINTENANCE_INTERVAL). RQ's own lease cannot be shortened, so --quick runs
the workbook's worker (without Retry) for the defaults too.
"""

from __future__ import annotations

import time

from lab.support.experiments.peers import common
from lab.support.experiments.peers.common import QUEUE, Config, CrashCase, python_m


def stock(command: str, *args: str) -> list[str]:
    """A stock `rq` command on the private Redis (the bench puts its URL in)."""
    return python_m("rq.cli", command, "--url", "$PEERS_REDIS_URL", *args, QUEUE)


SIMPLE = ("--worker-class", "rq.worker.SimpleWorker")
WORKBOOK = python_m("solutions.worker", QUEUE)
#: --quick's settings of the workbook's worker: a lease of 3 s, maintenance every 2 s.
QUICK_ENV = {"JOB_LEASE": "3", "JOB_HEARTBEAT": "1", "MAINTENANCE_INTERVAL": "2"}


class Peer(common.Peer):
    name = "rq"
    package = "rq"
    single_call = "Queue.enqueue()"
    bulk_call = "Queue.enqueue_many()"
    real_bulk = True  # one pipeline (MULTI/EXEC) for the whole list
    configs = (
        Config(
            "default",
            "Worker: a forked work horse per job",
            noop=stock("worker"),
            eight=stock("worker-pool", "--num-workers", "8"),
        ),
        Config(
            "best",
            "worker-pool -n 2, SimpleWorker (jobs run in the worker's process)",
            noop=stock("worker-pool", "--num-workers", "2", *SIMPLE),
            eight=stock("worker-pool", "--num-workers", "8", *SIMPLE),
        ),
    )
    crash_cases = (
        CrashCase(
            "defaults",
            at_least_once=False,
            describe="stock `rq worker`, no Retry: failed once its 90 s lease is over, at the"
            " next maintenance of an idle worker (quick: the workbook's worker, no Retry)",
            worker=stock("worker"),
            settings={},
            watch_s=1000,
            quick={},
            quick_worker=WORKBOOK,
            quick_env=QUICK_ENV,
            quick_watch_s=12,
        ),
        CrashCase(
            "at-least-once",
            at_least_once=True,
            describe="Retry(max=1) and the workbook's worker (JOB_LEASE 45 s, maintenance"
            " every 15 s; quick: 3 s and 2 s)",
            worker=WORKBOOK,
            settings={"retry": 1},
            watch_s=180,
            quick={"retry": 1},
            quick_env=QUICK_ENV,
            quick_watch_s=12,
        ),
    )

    def __init__(self) -> None:
        super().__init__()
        from redis import Redis
        from rq import Queue

        self.redis = Redis.from_url(common.redis_url())
        self.queue = Queue(QUEUE, connection=self.redis)

    def enqueue(self, delay: float):  # noqa: ANN201
        return self.queue.enqueue(self.app.send_email, common.ADDRESS, delay)

    def enqueue_slow(self, delay: float):  # noqa: ANN201
        from rq import Retry

        retries = common.settings().get("retry")
        return self.queue.enqueue(
            self.app.send_slow_email,
            common.ADDRESS,
            delay,
            retry=Retry(max=retries) if retries else None,
            job_timeout=600,
        )

    def bulk(self, count: int, delay: float = 0) -> float:
        from rq import Queue

        started_at = time.perf_counter()
        email = (common.ADDRESS, delay)
        self.queue.enqueue_many([Queue.prepare_data(self.app.send_email, email)] * count)
        return time.perf_counter() - started_at

    def failed(self, handle) -> bool:  # noqa: ANN001 - an rq Job
        return self.state(handle) == "failed"

    def state(self, handle) -> str | None:  # noqa: ANN001 - an rq Job
        return handle.get_status(refresh=True).value

    def close(self) -> None:
        self.redis.close()
        super().close()

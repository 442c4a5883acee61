"""Step 07 - YOUR FILE (lab/pool.py): several workers at once, on RQ's WorkerPool.

    python -m lab.worker --processes N [--simple | --spawn] [QUEUE ...]

A WorkerPool is one process that starts N worker processes on the same queues (each
takes the next job it finds), starts a new one when one dies, and on Ctrl-C or SIGTERM
asks each to stop after its current job: a warm shutdown. Every worker of a pool also
runs RQ's scheduler, as `--with-scheduler` does for one worker.

You write build_pool(); the command line around it is provided
(lab/support/workers/cli.py): it picks the worker class (your worker_class() from
step 03, or SpawnWorker for --spawn) and starts the pool.
"""

from __future__ import annotations

from collections.abc import Sequence

from redis import Redis
from rq import Worker
from rq.worker_pool import WorkerPool

from lab.support.config import get_settings

from .connection import get_redis


def build_pool(
    queue_names: Sequence[str] = (),
    processes: int = 2,
    worker_class: type[Worker] = Worker,
    connection: Redis | None = None,
) -> WorkerPool:
    """A WorkerPool of `processes` workers of `worker_class` on the queues `queue_names`
    (default: the QUEUE_NAME setting), in that order, on `connection` (default: get_redis())."""
    # TODO: the queue names (or QUEUE_NAME) into WorkerPool, with num_workers
    raise NotImplementedError("build_pool() in lab/pool.py is not written yet")

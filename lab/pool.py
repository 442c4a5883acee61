"""Step 07 - YOUR FILE (lab/pool.py): several workers at once, on RQ's WorkerPool.

    python -m lab.worker --processes N [--simple | --spawn] [QUEUE ...]

A WorkerPool is one process that starts N worker processes on the same queues (each
takes the next job it finds), starts a new one when one dies, and on Ctrl-C or SIGTERM
asks each to stop after its current job: a warm shutdown. Every worker of a pool also
runs RQ's scheduler, as `--with-scheduler` does for one worker.

You write build_pool(); the command line around it is provided
(lab/support/workers/cli.py): it picks the worker class (your worker_class() from
step 03, or SpawnWorker for --spawn) and starts the pool. You also write pool_size(): how
big a pool to run, decided from what notebook 07 measures.
"""

from __future__ import annotations

import math
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
    # TODO: the pool this docstring describes (python -m lab hint 07 for help)
    raise NotImplementedError("build_pool() in lab/pool.py is not written yet")


def pool_size(cpu_share: float, cores: int, limit: int = 32) -> int:
    """How many workers to run for jobs that spend `cpu_share` (0 < share <= 1) of their wall
    time on the CPU, on `cores` cores: as many as keep the cores busy, cores / cpu_share
    rounded down, and never more than `limit` (for jobs that mostly wait, memory and the
    rest of the system set the size, not the CPU). ValueError for a share outside (0, 1],
    NaN included, and for cores or limit below 1."""
    # TODO: the rule and the refusals of notebook 07 (python -m lab hint 07 for help)
    raise NotImplementedError("pool_size() in lab/pool.py is not written yet")

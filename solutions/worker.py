"""Step 03 - YOUR FILE (lab/worker.py): the consumer that runs queued jobs.

    python -m lab.worker [QUEUE ...] [--burst] [--simple] [--with-scheduler]
                         [--processes N] [--dequeue-strategy round_robin]

`Worker` forks a fresh process for every job, so a crashing job cannot take the worker
down; `SimpleWorker` runs jobs in its own process, which is what Windows (no fork)
needs. `--burst` stops once the queues are empty. `--with-scheduler` also moves jobs
whose time has come (enqueue_in, retries with an interval) onto their queues. Queues
given in order are served most urgent first (step 08a), unless --dequeue-strategy says
round_robin (in turn) or random.
Results are kept RESULT_TTL seconds (default 500).

You write worker_class() and build_worker(); the command line around them is provided
(lab/support/workers/cli.py).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from redis import Redis
from rq import SimpleWorker, Worker

from lab.support.config import get_settings
from lab.support.workers import cli as worker_cli

from .connection import get_queue, get_redis


def worker_class(simple: bool = False) -> type[Worker] | type[SimpleWorker]:
    """SimpleWorker when asked for, or on Windows, which cannot fork; Worker elsewhere."""
    # BEGIN SOLUTION: pick SimpleWorker or Worker
    if simple or sys.platform == "win32":
        return SimpleWorker
    return Worker
    # END SOLUTION


def build_worker(
    queue_names: Sequence[str] = (), simple: bool = False, connection: Redis | None = None
) -> Worker | SimpleWorker:
    """A worker for the queues `queue_names` (default: the QUEUE_NAME setting)."""
    # BEGIN SOLUTION: one get_queue() per name, all on one connection, into worker_class()
    connection = connection or get_redis()
    names = list(queue_names) or [get_settings().queue_name]
    queues = [get_queue(connection, name) for name in names]
    return worker_class(simple)(queues, connection=connection)
    # END SOLUTION


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m lab.worker ...`: the command line is provided (lab/support/workers/cli.py)."""
    module = f"{__package__}.worker"  # lab.worker or solutions.worker
    return worker_cli.main(build_worker, get_redis, module, __doc__.split("\n")[0], argv)


if __name__ == "__main__":
    sys.exit(main())

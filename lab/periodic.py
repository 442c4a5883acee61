"""Step 08c - YOUR FILE (lab/periodic.py): a digest every minute, on RQ's cron scheduler.

    python -m lab.periodic [--every SECONDS] [--queue NAME]

runs RQ's CronScheduler: a process that puts send_digest on the queue each minute (or
every SECONDS), for a worker to run. It does not run jobs itself, so a worker must be
running too. Stop it with Ctrl-C. `rq cron` is RQ's own command for the same scheduler,
with the jobs registered in a config file.

You write schedule_digest(); send_digest() and the command line (lab/support/workers/cron.py)
are provided.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from rq import Queue, get_current_job
from rq.cron import CronJob, CronScheduler
from rq.registry import FinishedJobRegistry

from lab.support.workers import cron as cron_cli

#: When the digest runs: every minute, at second 0 (cron fields are in local time).
DIGEST_CRON = "* * * * *"


def send_digest(queue_name: str) -> str:
    """The periodic job: a one-line digest of the queue `queue_name`."""
    connection = get_current_job().connection
    queue = Queue(queue_name, connection=connection)
    finished = FinishedJobRegistry(queue=queue).count
    return f"Digest of {queue_name}: {queue.count} queued, {finished} finished"


def schedule_digest(scheduler: CronScheduler, queue_name: str, every: int | None = None) -> CronJob:
    """Have `scheduler` queue send_digest(queue_name) on the queue `queue_name`, again and
    again: every `every` seconds when given, else at the times of the cron expression
    DIGEST_CRON; return what the scheduler keeps for it (its CronJob)."""
    # TODO: one registration: which function, its argument, its queue, how often
    raise NotImplementedError("schedule_digest() in lab/periodic.py is not written yet")


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m lab.periodic ...`: the command line is provided (lab/support/workers/cron.py)."""
    return cron_cli.main(f"{__package__}.periodic", argv)  # lab.periodic or solutions.periodic


if __name__ == "__main__":
    sys.exit(main())

"""Step 09 - YOUR FILE (lab/stats.py): GET /stats, what the queues and workers do right now.

A queue that only grows, failures that pile up, a job that waits longer and longer, a
worker whose heartbeat stopped: each shows in these numbers before anyone complains. RQ
keeps them all in Redis: a list per queue, a registry per status, a key per worker.

You write queue_stats() and worker_stats(). read_stats() and the endpoint are provided;
GET /metrics (Prometheus, lab/support/api/metrics.py) is built on read_stats() too.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from fastapi import APIRouter
from rq import Queue, Worker

from lab.support.api import EmailQueue, served_queues
from lab.support.queueing.monitor import ReportingQueue, Stats, finished_since, readable_workers

router = APIRouter()


def queue_stats(queue: Queue, now: datetime) -> dict:
    """`queue`'s numbers at `now`: {"name", "queued", "started", "finished", "failed",
    "scheduled", "deferred", "canceled", "oldest_queued_age"}: how many of its jobs are in
    each state, and the seconds the job next in line has waited since it was queued (None
    when the queue is empty)."""
    # BEGIN SOLUTION: a count per state; how long the job next in line has waited
    head = queue.get_job_ids(0, 1)
    job = queue.fetch_job(head[0]) if head else None
    waited = (now - job.enqueued_at).total_seconds() if job and job.enqueued_at else None
    return {
        "name": queue.name,
        "queued": queue.count,
        "started": queue.started_job_registry.count,
        "finished": queue.finished_job_registry.count,
        "failed": queue.failed_job_registry.count,
        "scheduled": queue.scheduled_job_registry.count,
        "deferred": queue.deferred_job_registry.count,
        "canceled": queue.canceled_job_registry.count,
        "oldest_queued_age": waited,
    }
    # END SOLUTION


def worker_stats(worker: Worker, now: datetime) -> dict:
    """`worker`'s numbers at `now`: {"name", "queues", "state", "current_job",
    "seconds_since_heartbeat"} - the names of the queues it serves, its state, the id of the
    job it runs (None when idle) and the seconds since it last said it is alive (None if it
    never did)."""
    # BEGIN SOLUTION: what the worker says of itself in Redis, read now
    beat = worker.last_heartbeat
    return {
        "name": worker.name,
        "queues": worker.queue_names(),
        "state": worker.get_state(),
        "current_job": worker.get_current_job_id(),
        "seconds_since_heartbeat": (now - beat).total_seconds() if beat else None,
    }
    # END SOLUTION


def read_stats(queue: Queue) -> dict:
    """The numbers GET /stats answers, read now: each queue this API serves (the app's,
    high, low and JOB_QUEUES), every worker on this Redis database, and how many jobs of
    those queues finished in the last minute. A damaged job or worker key is reported in
    "problems" instead of failing the whole answer."""
    now = datetime.now(timezone.utc)
    problems: list[str] = []
    queues = [ReportingQueue.like(queue, name, problems) for name in served_queues(queue)]
    workers = readable_workers(queue.connection, problems)
    return {
        "at": now,
        "queues": [queue_stats(each, now) for each in queues],
        "workers": [worker_stats(worker, now) for worker in workers],
        "finished_last_minute": finished_since(queues, now - timedelta(minutes=1)),
        "problems": problems,
    }


@router.get("/stats", response_model=Stats)
def get_stats(queue: EmailQueue) -> dict:
    """What the queues and workers are doing now: per queue, its jobs by status and how
    long the next job has waited; per worker, its state, job and last heartbeat; and the
    jobs finished in the last minute."""
    return read_stats(queue)

"""PROVIDED: what GET /jobs/{job_id} says beside your describe_job() about a job that has
not run yet or has not ended: when a scheduled job is due, what a deferred job waits for,
and whether the worker of a started job is alive - each with a sentence, in `why`.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from redis.exceptions import ResponseError
from rq import Worker
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import ScheduledJobRegistry
from rq.utils import utcparse

from lab.support.config import get_settings


def waiting_state(job: Job) -> dict:
    """What GET /jobs/{job_id} adds beside your describe_job(), for a job that has not run
    yet or has not ended: when a scheduled job is due, what a deferred job waits for, and
    which worker runs a started job and whether it is alive (worker_state()) - with, in
    `why`, a sentence that says it. The job's queue in any case."""
    state: dict[str, Any] = {"queue": job.origin}
    status = job.get_status(refresh=False)
    if status == JobStatus.STARTED:
        state.update(worker_state(job))
    elif status == JobStatus.SCHEDULED:
        registry = ScheduledJobRegistry(job.origin, connection=job.connection)
        try:
            due = registry.get_scheduled_time(job)
        except NoSuchJobError:  # moved to its queue just now
            return state
        state["scheduled_for"] = due
        state["why"] = (
            f"Scheduled for {due.isoformat()}: a worker started with --with-scheduler queues"
            " it then; without one it waits."
        )
    elif status == JobStatus.DEFERRED:
        waiting = []
        for dependency_id in job.dependency_ids:
            try:
                other = Job.fetch(
                    dependency_id, connection=job.connection, serializer=job.serializer
                )
                waiting.append(
                    {"id": other.id, "task": other.func_name, "status": other.get_status().value}
                )
            except NoSuchJobError:
                waiting.append({"id": dependency_id, "task": None, "status": None})
        state["waiting_for"] = waiting
        state["why"] = deferred_reason(job, waiting)
    return state


def worker_state(job: Job) -> dict:
    """The worker of the started `job`, and whether it is alive: Redis still holds the
    worker's key and its last heartbeat is at most JOB_LEASE seconds old. Read now, from the
    worker's hash, without waiting for RQ's cleanup of the started registry (which fails an
    abandoned job only at a worker's next maintenance). A damaged worker key or heartbeat
    gives worker_alive null and a sentence in `why`, not a 500; Redis down is a 503."""
    name = job.worker_name
    if not name:
        return {}
    lease = get_settings().job_lease
    state: dict[str, Any] = {"worker": name, "worker_alive": None, "seconds_since_heartbeat": None}
    key = Worker.redis_worker_namespace_prefix + name
    try:  # one round trip
        raw, exists = (
            job.connection.pipeline(transaction=False)
            .hget(key, "last_heartbeat")
            .exists(key)
            .execute()
        )
    except ResponseError:  # the key holds something else than a worker's hash
        state["why"] = f"Its worker {name} cannot be read: its key in Redis is damaged."
        return state
    if not exists:
        state["worker_alive"] = False
        state["why"] = (
            f"Its worker {name} is gone: Redis no longer holds it (it stopped, died or lost"
            " Redis long ago). A worker's next maintenance fails or retries the job"
            " (AbandonedJobError)."
        )
        return state
    try:
        beat = utcparse(raw.decode())
        age = (datetime.now(timezone.utc) - beat).total_seconds()
    except (AttributeError, ValueError, OverflowError):  # no heartbeat, or not a time
        age = None
    if age is None or age < -lease:  # a heartbeat from the future is as unreadable
        state["why"] = f"Its worker {name} has a heartbeat that cannot be read: {raw!r:.60}."
        return state
    state["seconds_since_heartbeat"] = round(max(age, 0.0), 3)
    state["worker_alive"] = age <= lease
    if age > lease:
        state["why"] = (
            f"Its worker {name} has sent no heartbeat for {age:.0f} s, more than"
            f" JOB_LEASE={lease} s: it has died or lost Redis. A worker's next maintenance"
            " fails or retries the job (AbandonedJobError)."
        )
    return state


def deferred_reason(job: Job, waiting: list[dict]) -> str:
    """Why the deferred `job` has not run, from the state of the jobs it waits for."""
    tolerant = job.allow_dependency_failures
    ended = ("finished", "failed", "stopped", "canceled") if tolerant else ("finished",)
    blocking = [w for w in waiting if w["status"] not in ended]
    if not blocking:
        return "Every job it waits for has ended: it is being queued now."
    ends = "ends" if tolerant else "finishes"
    lines = []
    for w in blocking:
        name = f"{(w['task'] or 'job').rpartition('.')[2]} ({w['id']})"
        if w["status"] in ("failed", "stopped", "canceled"):
            lines.append(
                f"{name}, which {w['status']}: this job will not run unless that one is"
                " retried and finishes"
            )
        elif w["status"] is None:
            lines.append(f"{name}, which Redis no longer holds: this job will never run")
        elif w["status"] == "deferred":
            lines.append(
                f"{name}, which is deferred itself: this job runs once it {ends}, and"
                " GET /jobs of that one says what it waits for"
            )
        else:
            lines.append(f"{name}, which is {w['status']}: this job runs once it {ends}")
    return "Waits for " + "; ".join(lines) + "."

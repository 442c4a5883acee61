"""Step 05 - YOUR FILE (lab/status.py): GET /jobs/{job_id}, what became of a job.

You write fetch_job() and describe_job(); the endpoint that calls them, get_job(), is
written. (Step 05 also has you write send_newsletter() in lab/tasks.py.) The answer's
model, JobState (models.py), and JobId (deps.py) are provided, in lab/support/api/.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from redis import Redis
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from lab.support.api import EmailQueue, JobId, JobState, waiting_state
from lab.support.config import get_settings

router = APIRouter()


def fetch_job(job_id: str, connection: Redis) -> Job:
    """The job `job_id`, or HTTPException 404 when Redis does not hold it.

    Loaded with the serializer of RQ_SERIALIZER (the `serializer` setting: "pickle" or
    "json"), the one the API's queue writes with and every worker reads with."""
    # BEGIN SOLUTION: Job.fetch() with the serializer setting; NoSuchJobError -> HTTPException(404)
    try:
        return Job.fetch(job_id, connection=connection, serializer=get_settings().serializer)
    except NoSuchJobError:
        raise HTTPException(
            status_code=404,
            detail=f"No job {job_id}: it never existed, or it ended more than its result TTL"
            " ago (RESULT_TTL) and Redis has dropped it.",
        ) from None
    # END SOLUTION


def describe_job(job: Job, traceback: bool = False) -> dict:
    """What GET /jobs/{job_id} says about `job`: the fields of JobState."""
    # BEGIN SOLUTION: status, times, position while queued, progress, then result or error
    status = job.get_status(refresh=False)  # as fetched, with the rest: one moment's state
    state = {
        "id": job.id,
        "status": status.value,
        "task": job.func_name,
        "enqueued_at": job.enqueued_at,
        "started_at": job.started_at,
        "ended_at": job.ended_at,
        "position": job.get_position() if status == JobStatus.QUEUED else None,
        "progress": job.meta.get("progress"),
        "retries_left": job.retries_left,
    }
    if status == JobStatus.FINISHED:
        state["result"] = job.return_value()
    elif status in (JobStatus.FAILED, JobStatus.STOPPED):
        latest = job.latest_result()
        if latest is not None and latest.exc_string:
            state["error"] = latest.exc_string.strip().splitlines()[-1]
            if traceback:
                state["traceback"] = latest.exc_string
    return state
    # END SOLUTION


@router.get("/jobs/{job_id}", response_model=JobState)
def get_job(
    job_id: JobId,
    queue: EmailQueue,
    traceback: Annotated[bool, Query(description="Include the traceback of a failure.")] = False,
) -> dict:
    """Where the job is: queued, started, finished (with its result), failed (with why)...

    For a scheduled or deferred job, also when it is due or what it waits for (provided)."""
    job = fetch_job(job_id, queue.connection)
    return {**describe_job(job, traceback), **waiting_state(job)}

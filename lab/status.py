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
    # TODO: Job.fetch() with the serializer setting; NoSuchJobError -> HTTPException(404)
    raise NotImplementedError("fetch_job() in lab/status.py is not written yet")


def describe_job(job: Job, traceback: bool = False) -> dict:
    """What GET /jobs/{job_id} says about `job`: the fields of JobState."""
    # TODO: status, times, position while queued, progress, then result or error
    raise NotImplementedError("describe_job() in lab/status.py is not written yet")


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

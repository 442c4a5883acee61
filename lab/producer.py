"""Steps 02, 05, 06 - YOUR FILE (lab/producer.py): the producer, a FastAPI app that queues emails.

Run it with `uvicorn lab.producer:app`. Every endpoint answers in milliseconds: it only
puts a job on the queue, and a worker (step 03) does the slow part. Step 05 adds
GET /jobs/{job_id}, to follow a job; step 06 adds retry and cancel, GET /failures, and
the Idempotency-Key header that makes a repeated POST queue its job only once.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, EmailStr, Field
from redis import Redis
from redis.exceptions import RedisError
from rq import Callback, Queue
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus

from lab.support.config import get_settings, safe_url
from lab.support.idempotency import IdempotencyMiddleware

from .connection import get_queue
from .tasks import FAILURES_KEY, record_failure, send_fake_email, send_newsletter

QUEUED_MESSAGE = "Email sending task has been queued."

app = FastAPI(title="Email task queue", description="The workbook's producer.")


class EmailRequest(BaseModel):
    """The body of POST /emails."""

    email: EmailStr = Field(examples=["user@example.com"])
    delay: float | None = Field(
        default=None, ge=0, le=3600, description="Seconds the fake email takes (default 10)."
    )


class Queued(BaseModel):
    """The answer to a request that queued a job."""

    message: str = Field(examples=[QUEUED_MESSAGE])
    job_id: str


@cache
def email_queue() -> Queue:
    """The queue every request puts its job on, made once, on first use."""
    return get_queue()


# An endpoint parameter of this type receives email_queue() (FastAPI dependency injection).
EmailQueue = Annotated[Queue, Depends(email_queue)]


class NewsletterRequest(BaseModel):
    """The body of POST /newsletters."""

    addresses: list[EmailStr] = Field(min_length=1, max_length=1000)
    delay: float = Field(default=0.1, ge=0, le=60, description="Seconds each email takes.")


#: A job id as RQ makes them (32 hex digits) or as a caller may choose them.
JobId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,128}$", description="A job id.")]


class JobState(BaseModel):
    """The answer of GET /jobs/{job_id}: where a job is in its life."""

    id: str
    status: str = Field(description="queued, started, deferred, scheduled, finished, failed, ...")
    task: str = Field(description="The function the worker runs, by its dotted name.")
    enqueued_at: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    position: int | None = Field(default=None, description="0 = next; only while queued.")
    progress: dict | None = Field(default=None, description="What the task saved in job.meta.")
    retries_left: int | None = None
    result: Any = Field(default=None, description="The return value, once finished.")
    error: str | None = Field(default=None, description="'<exception>: <message>', once failed.")
    traceback: str | None = Field(default=None, description="Only with ?traceback=1.")


@app.exception_handler(RedisError)
async def redis_unavailable(request: Request, exc: RedisError) -> JSONResponse:
    """Redis down or silent: answer 503 with what to do, instead of a 500."""
    url = safe_url(get_settings().redis_url)
    return JSONResponse(
        status_code=503,
        content={
            "detail": f"Redis is not reachable at {url} ({type(exc).__name__}: {exc}). "
            "Start it with `python -m lab redis start`, or set REDIS_URL, then try again."
        },
    )


@app.get("/health")
def health(queue: EmailQueue) -> JSONResponse:
    """Whether Redis answers, and how many jobs wait on the queue."""
    try:
        queue.connection.ping()
        waiting = queue.count
    except RedisError as exc:
        return JSONResponse(
            status_code=503,
            content={"status": "unavailable", "redis": f"{type(exc).__name__}: {exc}"},
        )
    return JSONResponse({"status": "ok", "redis": "ok", "queue": queue.name, "queued": waiting})


@app.get("/send-email/{email}", response_model=Queued)
def trigger_email(email: EmailStr, queue: EmailQueue) -> dict:
    """Queue a fake email to `email` (the original tutorial's endpoint).

    A GET should not change anything on the server; POST /emails is the better form.
    """
    # TODO: enqueue send_fake_email and answer with the message and the job id
    raise NotImplementedError("not written yet: see the TODO here")


@app.post("/emails", response_model=Queued, status_code=202)
def create_email(body: EmailRequest, queue: EmailQueue) -> dict:
    """Queue a fake email; 202 Accepted says the work is not done yet, only queued."""
    # TODO: enqueue send_fake_email with the address and the delay
    raise NotImplementedError("not written yet: see the TODO here")


@app.post("/newsletters", response_model=Queued, status_code=202)
def create_newsletter(body: NewsletterRequest, queue: EmailQueue) -> dict:
    """Queue one job that emails every address in turn; follow it with GET /jobs/{job_id}."""
    job = queue.enqueue(
        send_newsletter, body.addresses, body.delay, on_failure=Callback(record_failure)
    )
    return {"message": "Newsletter queued.", "job_id": job.id}


def fetch_job(job_id: str, connection: Redis) -> Job:
    """The job `job_id`, or HTTPException 404 when Redis does not hold it."""
    # TODO: Job.fetch(); turn NoSuchJobError into HTTPException(404, <why>)
    raise NotImplementedError("not written yet: see the TODO here")


def describe_job(job: Job, traceback: bool = False) -> dict:
    """What GET /jobs/{job_id} says about `job`: the fields of JobState."""
    # TODO: status, times, position while queued, progress, then result or error
    raise NotImplementedError("not written yet: see the TODO here")


@app.get("/jobs/{job_id}", response_model=JobState)
def get_job(
    job_id: JobId,
    queue: EmailQueue,
    traceback: Annotated[bool, Query(description="Include the traceback of a failure.")] = False,
) -> dict:
    """Where the job is: queued, started, finished (with its result), failed (with why)..."""
    return describe_job(fetch_job(job_id, queue.connection), traceback)


@app.post("/jobs/{job_id}/retry", response_model=JobState)
def retry_job(job_id: JobId, queue: EmailQueue) -> dict:
    """Put a failed (or stopped) job back on its queue; 409 for a job in any other state."""
    job = fetch_job(job_id, queue.connection)
    # TODO: 409 unless the job failed or was stopped; else job.requeue()
    raise NotImplementedError("not written yet: see the TODO here")
    return describe_job(fetch_job(job_id, queue.connection))  # its state now


@app.post("/jobs/{job_id}/cancel", response_model=JobState)
def cancel_job(job_id: JobId, queue: EmailQueue) -> dict:
    """Cancel a job that has not started; 409 for one that started or ended."""
    job = fetch_job(job_id, queue.connection)
    # TODO: 409 unless queued, scheduled or deferred; else job.cancel()
    raise NotImplementedError("not written yet: see the TODO here")
    return describe_job(fetch_job(job_id, queue.connection))  # its state now


@app.get("/failures")
def list_failures(queue: EmailQueue, limit: Annotated[int, Query(ge=1, le=100)] = 20) -> list[dict]:
    """The latest failed attempts, newest first, as the on_failure callback recorded them."""
    return [json.loads(entry) for entry in queue.connection.lrange(FAILURES_KEY, 0, limit - 1)]


IDEMPOTENCY_PREFIX = "workbook:idempotency:"


def claim_key(connection: Redis, key: str, fingerprint: str) -> dict | None:
    """Claim the Idempotency-Key `key` for a request whose body hashes to `fingerprint`.

    Returns None when the key is new: this request goes ahead. Returns what is stored
    under the key when an earlier request claimed it: {"fingerprint": ...}, plus "status"
    and "body" once that request was answered (remember_answer).
    """
    # TODO: SET the key to {"fingerprint": ...} with nx=True (atomic) and the TTL
    raise NotImplementedError("not written yet: see the TODO here")


def remember_answer(
    connection: Redis, key: str, fingerprint: str, status: int, body: str | None
) -> None:
    """Store the answer to the request that claimed `key`, for repeats to get it again.

    body=None means the request failed: forget the key, so the client can try again.
    """
    # TODO: SET the fingerprint, status and body (keeping the TTL), or DEL the key
    raise NotImplementedError("not written yet: see the TODO here")


# A POST with an Idempotency-Key header runs once (lab/support/idempotency.py, provided).
app.add_middleware(
    IdempotencyMiddleware,
    claim=claim_key,
    remember=remember_answer,
    connection=lambda: email_queue().connection,
    on_redis_error=redis_unavailable,
)

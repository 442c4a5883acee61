"""Step 02 - YOUR FILE (lab/producer.py): the producer, a FastAPI app that queues emails.

Run it with `uvicorn lab.producer:app`. Every endpoint answers in milliseconds: it only
puts a job on the queue, and a worker (step 03) does the slow part.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, EmailStr, Field
from redis.exceptions import RedisError
from rq import Queue

from lab.support.config import get_settings, safe_url

from .connection import get_queue
from .tasks import send_fake_email

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

"""Step 04 - YOUR FILE (lab/strategies.py): four ways for an API to send a slow email.

One FastAPI app, served by one process (`uvicorn lab.strategies:app`), with one endpoint
per strategy, all sending the same `send_fake_email` with the same JSON body as
`POST /emails` ({"email": ..., "delay": ...}):

    POST /blocking/async   1. `async def` that sends the email itself
    POST /blocking/def     2. plain `def` that sends the email itself
    POST /background       3. answers first, then sends it with FastAPI's BackgroundTasks
    POST /queued/emails    4. your producer from step 02 (mounted here): puts a job on RQ
    POST /noop             a floor: POST /queued/emails without the enqueue
    GET  /health           answers {"status": "ok"} at once, when the server is free to

You write the first three: send_blocking_async(), send_blocking_def() and
send_in_background(). Strategy 4 is your producer, unchanged; the last two are provided
(lab/support/api/routes.py: floor_router). `python -m lab bench` measures them side by
side; notebook 04 explains the numbers.
"""

from __future__ import annotations

import time
import uuid
from functools import cache

from fastapi import APIRouter, BackgroundTasks
from redis import Redis

from lab.support.api import EmailRequest, create_app, floor_router

from .connection import get_queue, get_redis
from .producer import app as producer_app
from .tasks import send_fake_email

#: Where send_and_record() notes when a background email was done: <prefix><task id>.
DONE_PREFIX = "strategies:done:"
SCHEDULED_MESSAGE = "Email will be sent after this answer."

router = APIRouter()


# The two blocking endpoints have no return annotation: FastAPI checks a `def` endpoint's
# declared return type in the thread pool, a second trip through its 40 threads.
@router.post("/blocking/async")
async def send_blocking_async(body: EmailRequest):
    """Strategy 1: send the email inside the request, in an `async def` endpoint.

    FastAPI runs an `async def` endpoint on the event loop itself, so while
    `time.sleep()` runs in it, this process answers nobody else."""
    # TODO: call send_fake_email(body.email, body.delay), answer {"message": <receipt>}
    raise NotImplementedError("send_blocking_async() in lab/strategies.py is not written yet")


@router.post("/blocking/def")
def send_blocking_def(body: EmailRequest):
    """Strategy 2: the same body in a plain `def` endpoint.

    FastAPI runs a `def` endpoint in a pool of threads (40 by default), so 40 emails can
    wait at once; request 41 waits for a free thread."""
    # TODO: the same as send_blocking_async: send, then answer with the receipt
    raise NotImplementedError("send_blocking_def() in lab/strategies.py is not written yet")


@cache
def _redis() -> Redis:
    return get_redis()


def send_and_record(task_id: str, email_address: str, delay: float | None = None) -> None:
    """Send the email, then note in Redis when it was done (key DONE_PREFIX + task_id,
    value: time.time(), kept 10 minutes).

    BackgroundTasks offers no way to ask whether a task has run; this note is how
    another process (the bench, notebook 04) can tell."""
    send_fake_email(email_address, delay)
    _redis().set(f"{DONE_PREFIX}{task_id}", repr(time.time()), ex=600)


@router.post("/background", status_code=202)
async def send_in_background(body: EmailRequest, background_tasks: BackgroundTasks) -> dict:
    """Strategy 3: answer at once; this process sends the email after the answer.

    The work runs in this web process (in its thread pool), after the response has gone:
    nothing but this process's memory holds it."""
    # TODO: make a task id, add send_and_record to background_tasks, answer with the id
    raise NotImplementedError("send_in_background() in lab/strategies.py is not written yet")


app = create_app(
    "Four ways to send an email",
    get_queue,
    routers=[router, floor_router()],  # this file's three, then GET /health and POST /noop
    description="The workbook's step 04.",
)
# Strategy 4 is the producer itself, unchanged, under /queued: POST /queued/emails is
# your create_email(), with its queue and its 503 answer when Redis is down.
app.mount("/queued", producer_app)

"""Step 02 - YOUR FILE (lab/producer.py): the producer, a FastAPI app that queues emails.

Run it with `uvicorn lab.producer:app`. You write the two endpoints of the original
tutorial: trigger_email() and create_email(). They only put a job on the queue, so they
answer in milliseconds; a worker (step 03) does the slow part.

Step 08 adds to POST /emails a priority (lab/priorities.py) and a time to send at
(lab/scheduling.py): the lines before your code call those files' functions, only for a
request that asks for them.

`app`, at the end, is assembled from routers: this file's, those of the files of later
steps (lab/status.py, lab/failures.py, ...) and the provided one. The models, the queue each
endpoint receives (EmailQueue), the 503 answer when Redis is down, GET /health,
POST /newsletters and GET /failures are provided, in lab/support/api/ (routes.py); so are
GET /metrics (metrics.py) and the dashboard at /dashboard (dashboard.py).
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import EmailStr

from lab.support.api import (
    QUEUED_MESSAGE,
    SCHEDULED_MESSAGE,
    EmailQueue,
    EmailQueued,
    EmailRequest,
    Queued,
    create_app,
    metrics_router,
    provided_router,
    waiting_state,
)

from . import failures, priorities, repositories, scheduling, stats, status, tasks, webhooks
from .connection import get_queue
from .tasks import send_fake_email

router = APIRouter()


@router.get("/send-email/{email}", response_model=Queued)
def trigger_email(email: EmailStr, queue: EmailQueue) -> dict:
    """Queue a fake email to `email` (the original tutorial's endpoint).

    A GET should not change anything on the server; POST /emails is the better form.
    """
    # TODO: enqueue send_fake_email and answer with the message and the job id
    raise NotImplementedError("trigger_email() in lab/producer.py is not written yet")


@router.post(
    "/emails", response_model=EmailQueued, status_code=202, response_model_exclude_none=True
)
def create_email(body: EmailRequest, queue: EmailQueue) -> dict:
    """Queue a fake email; 202 Accepted says the work is not done yet, only queued.

    With a priority, on the queue of that priority; with send_at or send_in, scheduled."""
    if body.priority != "default":  # step 08a: the queue of that priority
        queue = priorities.queue_for(queue, body.priority)
    if body.scheduled:  # step 08b: send later
        job = scheduling.schedule_email(queue, body)
        due = waiting_state(job).get("scheduled_for")
        return {"message": SCHEDULED_MESSAGE, "job_id": job.id, "scheduled_for": due}
    # TODO: enqueue send_fake_email with the address and the delay
    raise NotImplementedError("create_email() in lab/producer.py is not written yet")


# The app uvicorn serves. Every endpoint receives the queue that your get_queue() makes.
app = create_app(
    "Email task queue",
    get_queue,
    routers=[
        router,  # step 02, this file: GET /send-email/{email}, POST /emails
        provided_router(tasks),  # GET /health, POST /newsletters, GET /failures
        status.router,  # step 05: GET /jobs/{job_id}
        failures.router,  # step 06: POST /jobs/{job_id}/retry and /cancel
        repositories.router,  # step 08d: POST /repositories
        webhooks.router,  # step 08e: POST /webhooks/payments
        stats.router,  # step 09: GET /stats
        metrics_router(stats.read_stats),  # GET /metrics, from your GET /stats numbers
    ],
    description="The workbook's producer.",
    # step 06: a POST with an Idempotency-Key header runs once
    idempotency=(failures.claim_key, failures.remember_answer),
)

"""PROVIDED: the endpoints you do not write: GET /health, POST /newsletters and
GET /failures (`provided_router`), and step 04's GET /health and POST /noop (`floor_router`).
"""

from __future__ import annotations

import json
from types import ModuleType
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError
from rq import Callback

from lab.support.api.deps import EmailQueue, app_queue
from lab.support.api.models import EmailRequest, Health, NewsletterRequest, Queued
from lab.support.config import hide_secrets


def provided_router(tasks: ModuleType) -> APIRouter:
    """GET /health, POST /newsletters (queues `tasks.send_newsletter`, step 05, with the
    `tasks.record_failure` callback, step 06) and GET /failures (what that callback kept
    under `tasks.FAILURES_KEY`)."""
    router = APIRouter()

    @router.get("/health", response_model=Health, responses={503: {"model": Health}})
    def health(request: Request) -> JSONResponse:
        """Whether Redis answers, and how many jobs wait on the queue."""
        try:
            queue = app_queue(request.app)
            queue.connection.ping()
            waiting = queue.count
        except RedisError as exc:
            return JSONResponse(
                status_code=503,
                content={
                    "status": "unavailable",
                    "redis": f"{type(exc).__name__}: {hide_secrets(str(exc))}",
                },
            )
        return JSONResponse({"status": "ok", "redis": "ok", "queue": queue.name, "queued": waiting})

    @router.post("/newsletters", response_model=Queued, status_code=202)
    def create_newsletter(body: NewsletterRequest, queue: EmailQueue) -> dict:
        """Queue one job that emails every address in turn; follow it with GET /jobs/{job_id}.

        The job may run JOB_TIMEOUT seconds, as every job of the app's queue (app_queue()); a
        list whose work would take longer is refused."""
        job = queue.enqueue(
            tasks.send_newsletter,
            body.addresses,
            body.delay,
            on_failure=Callback(tasks.record_failure),
        )
        return {"message": "Newsletter queued.", "job_id": job.id}

    @router.get("/failures", description=FAILURES_COVER)
    def list_failures(
        queue: EmailQueue, limit: Annotated[int, Query(ge=1, le=100)] = 20
    ) -> list[dict]:
        """The latest failed attempts, newest first, as the on_failure callback recorded them:
        those of jobs queued with record_failure as their callback (the newsletters of
        POST /newsletters), not emails of POST /emails or GET /send-email (no callback), nor
        jobs stopped on command or whose work horse died. FAILURES_COVER says it in full."""
        entries = queue.connection.lrange(tasks.FAILURES_KEY, 0, limit - 1)
        return [entry for entry in map(_entry, entries) if entry is not None]

    return router


#: What GET /failures lists (its description in the OpenAPI schema, /docs).
FAILURES_COVER = """The latest failed attempts of jobs, newest first (at most `limit`; the
latest 100 are kept), as the `on_failure` callback `record_failure` (lab/tasks.py, step 06)
recorded them, from every queue of this Redis.

Covered: every failed attempt of a job queued with `on_failure=Callback(record_failure)`,
including attempts that a retry cured and timeouts. The API queues only the newsletters of
POST /newsletters so; your own code may queue other jobs so.

Not covered: emails queued by POST /emails and GET /send-email/{email} (they have no
callback: GET /jobs/{job_id} shows their error); jobs stopped on command; and a job whose
work horse was killed or crashed while its worker went on (RQ calls no callback then). A job
left by a worker that was killed itself appears, as AbandonedJobError, once another
worker's clean-up finds it. The failed jobs themselves are in RQ's FailedJobRegistry."""


def _entry(raw: bytes) -> dict | None:
    """One entry of the failures list; None for one that is not a JSON object."""
    try:
        entry = json.loads(raw)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) else None


def floor_router() -> APIRouter:
    """Step 04's yardsticks, beside the strategies of lab/strategies.py: GET /health and
    POST /noop."""
    router = APIRouter()

    @router.get("/health")
    async def health() -> dict:
        """Answers at once - whenever the event loop is free to run it."""
        return {"status": "ok"}

    @router.post("/noop", response_model=Queued, status_code=202)
    def noop(body: EmailRequest, queue: EmailQueue) -> dict:
        """The floor: POST /queued/emails without the enqueue. The same body, queue and
        answer, run the same way (a `def`, in the thread pool), so that the difference between
        the two is what putting the job on the queue costs."""
        return {"message": "Nothing queued.", "job_id": "none"}

    return router

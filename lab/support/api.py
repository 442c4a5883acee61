"""PROVIDED: the parts of the producer's API that you do not write.

- the models of its requests and answers (EmailRequest, Queued, JobState, ...);
- `EmailQueue`, the queue an endpoint receives as a parameter (FastAPI's dependency
  injection), made once per app with your `get_queue()`;
- the 503 answer when Redis is unreachable, and the 501 answer that names a TODO of yours
  not written yet;
- GET /health, POST /newsletters and GET /failures (`provided_router`), and step 04's
  GET /health and POST /noop (`floor_router`);
- `create_app()`, which assembles an app from routers: lab/producer.py calls it at its end
  with your routers (steps 02, 05 and 06), so that `uvicorn lab.producer:app` serves them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from types import ModuleType
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, EmailStr, Field
from redis.exceptions import RedisError
from rq import Callback, Queue

from .config import get_settings, safe_url
from .idempotency import Claim, IdempotencyMiddleware, Remember

#: The message of every answer that queued an email (the original tutorial's words).
QUEUED_MESSAGE = "Email sending task has been queued."


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


class NewsletterRequest(BaseModel):
    """The body of POST /newsletters."""

    addresses: list[EmailStr] = Field(min_length=1, max_length=1000)
    delay: float = Field(default=0.1, ge=0, le=60, description="Seconds each email takes.")


#: A job id as RQ makes them (a UUID, 36 characters) or as a caller may choose them.
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


# --- the queue every endpoint receives ------------------------------------------------------


def app_queue(app: FastAPI) -> Queue:
    """The queue of `app`: made with the app's `get_queue()` on first use, then kept.

    A test may replace it with `app.dependency_overrides[email_queue]`; this function
    honours that too, for code outside FastAPI's dependency injection (the middleware)."""
    override = app.dependency_overrides.get(email_queue)
    if override is not None:
        return override()
    if app.state.queue is None:
        app.state.queue = app.state.get_queue()
    return app.state.queue


def email_queue(request: Request) -> Queue:
    """The queue of the app that received `request`."""
    return app_queue(request.app)


# An endpoint parameter of this type receives the app's queue (FastAPI dependency injection).
EmailQueue = Annotated[Queue, Depends(email_queue)]


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


async def not_written(request: Request, exc: NotImplementedError) -> JSONResponse:
    """A TODO of yours not written yet: answer 501 with the stub's words, which name the
    function and its file, instead of a bare 500 and a traceback in the server's log."""
    return JSONResponse(status_code=501, content={"detail": f"{exc} (see its TODO)"})


def create_app(
    title: str,
    get_queue: Callable[[], Queue],
    routers: Sequence[APIRouter] = (),
    description: str = "",
    idempotency: tuple[Claim, Remember] | None = None,
) -> FastAPI:
    """A FastAPI app serving `routers`, whose endpoints receive `get_queue()` as EmailQueue
    and answer 503 JSON when Redis is unreachable.

    `idempotency=(claim_key, remember_answer)` makes every POST with an Idempotency-Key
    header run once (lab/support/idempotency.py)."""
    app = FastAPI(title=title, description=description)
    app.state.get_queue, app.state.queue = get_queue, None
    app.add_exception_handler(RedisError, redis_unavailable)
    app.add_exception_handler(NotImplementedError, not_written)
    for router in routers:
        app.include_router(router)
    if idempotency is not None:
        claim, remember = idempotency
        app.add_middleware(
            IdempotencyMiddleware,
            claim=claim,
            remember=remember,
            connection=lambda: app_queue(app).connection,
            on_redis_error=redis_unavailable,
            on_not_written=not_written,
        )
    return app


# --- endpoints you do not write -----------------------------------------------------------


def provided_router(tasks: ModuleType) -> APIRouter:
    """GET /health, POST /newsletters (queues `tasks.send_newsletter`, step 05, with the
    `tasks.record_failure` callback, step 06) and GET /failures (what that callback kept
    under `tasks.FAILURES_KEY`)."""
    router = APIRouter()

    @router.get("/health")
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

    @router.post("/newsletters", response_model=Queued, status_code=202)
    def create_newsletter(body: NewsletterRequest, queue: EmailQueue) -> dict:
        """Queue one job that emails every address in turn; follow it with GET /jobs/{job_id}."""
        job = queue.enqueue(
            tasks.send_newsletter,
            body.addresses,
            body.delay,
            on_failure=Callback(tasks.record_failure),
        )
        return {"message": "Newsletter queued.", "job_id": job.id}

    @router.get("/failures")
    def list_failures(
        queue: EmailQueue, limit: Annotated[int, Query(ge=1, le=100)] = 20
    ) -> list[dict]:
        """The latest failed attempts, newest first, as the on_failure callback recorded them."""
        entries = queue.connection.lrange(tasks.FAILURES_KEY, 0, limit - 1)
        return [json.loads(entry) for entry in entries]

    return router


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

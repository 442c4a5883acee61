"""PROVIDED: `create_app()`, which assembles the producer from routers.

lab/producer.py calls it at its end with your routers (steps 02, 05 and 06), so that
`uvicorn lab.producer:app` serves them. It adds what guards every endpoint: limits on
request headers (header_limit.py) and body sizes (body_limit.py), error answers that can
always be written (errors.py) and their documentation in the OpenAPI schema (docs.py),
the Idempotency-Key middleware (idempotency.py), and RQ's web dashboard at /dashboard
(dashboard.py). Nothing here reads a setting: each is read when a request needs it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from fastapi import APIRouter, FastAPI
from fastapi.exceptions import RequestValidationError, ResponseValidationError
from fastapi.routing import APIRoute
from redis.exceptions import RedisError
from rq import Queue
from rq.exceptions import DeserializationError

from lab.support.api.body_limit import BodyLimitMiddleware
from lab.support.api.dashboard import mount_dashboard
from lab.support.api.deps import app_queue
from lab.support.api.docs import document_errors
from lab.support.api.errors import invalid_request, job_unreadable, not_written, redis_unavailable
from lab.support.api.header_limit import HeaderLimitMiddleware
from lab.support.api.idempotency import Claim, IdempotencyMiddleware, Remember


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
    header run once (lab/support/api/idempotency.py). Every error answer is JSON, documented in
    the OpenAPI schema (ERRORS); a body over MAX_BODY_BYTES is refused with 413, headers
    over MAX_HEADER_BYTES (or more than 100 of them) with 431."""
    app = FastAPI(title=title, description=description)
    app.state.get_queue, app.state.queue = get_queue, None
    app.add_exception_handler(RedisError, redis_unavailable)
    app.add_exception_handler(NotImplementedError, not_written)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(DeserializationError, job_unreadable)
    app.add_exception_handler(ResponseValidationError, job_unreadable)
    for router in routers:
        for route in router.routes:
            if isinstance(route, APIRoute):
                document_errors(route, idempotent=idempotency is not None)
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
    # Added last, so they are the outermost: headers are checked before anything reads
    # them, and a body is counted before anything reads it.
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(HeaderLimitMiddleware)
    mount_dashboard(app)  # notebook 09: rq-dashboard-fast at /dashboard, guarded
    return app

"""PROVIDED: the producer's parts that you do not write, by the names your files import:
`from lab.support.api import EmailQueue, JobId, ...`.

    create_app                     assembles the app from routers (app.py)
    provided_router, floor_router  GET /health, POST /newsletters, GET /failures; step 04's
                                   GET /health and POST /noop (routes.py)
    metrics_router                 GET /metrics, for Prometheus (metrics.py)
    EmailQueue, JobId              what an endpoint receives: the app's queue, a checked
                                   job id (deps.py)
    sibling_queue, served_queues   another queue like the app's; the queues the API serves
    EmailRequest, EmailQueued, Queued, JobState, RepositoryRequest, RepositoryQueued,
    QUEUED_MESSAGE, SCHEDULED_MESSAGE, PRIORITIES, PAYMENT_ROUTE, read_event
                                   the requests' and answers' models (models.py)
    waiting_state                  GET /jobs/{id}'s words on a job not ended (job_state.py)

The other modules here: errors.py (error answers), docs.py (their OpenAPI documentation),
body_limit.py, idempotency.py (middleware), and rq-dashboard-fast: dashboard.py (mounted,
guarded), dashboard_access.py (who may use it), dashboard_app.py (its job reads).
"""

from lab.support.api.app import create_app
from lab.support.api.deps import EmailQueue, JobId, served_queues, sibling_queue
from lab.support.api.job_state import waiting_state
from lab.support.api.metrics import metrics_router
from lab.support.api.models import (
    PAYMENT_ROUTE,
    PRIORITIES,
    QUEUED_MESSAGE,
    SCHEDULED_MESSAGE,
    EmailQueued,
    EmailRequest,
    JobState,
    Queued,
    RepositoryQueued,
    RepositoryRequest,
    read_event,
)
from lab.support.api.routes import floor_router, provided_router

__all__ = [
    "PAYMENT_ROUTE",
    "PRIORITIES",
    "QUEUED_MESSAGE",
    "SCHEDULED_MESSAGE",
    "EmailQueue",
    "EmailQueued",
    "EmailRequest",
    "JobId",
    "JobState",
    "Queued",
    "RepositoryQueued",
    "RepositoryRequest",
    "create_app",
    "floor_router",
    "metrics_router",
    "provided_router",
    "read_event",
    "served_queues",
    "sibling_queue",
    "waiting_state",
]

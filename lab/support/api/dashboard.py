"""PROVIDED: RQ's web dashboard (rq-dashboard-fast), served by the producer at /dashboard.

`create_app()` (app.py) calls `mount_dashboard()`, so `uvicorn lab.producer:app` serves,
beside the API, http://127.0.0.1:8000/dashboard: every queue of this Redis with its counts
(queued, started, failed, deferred, finished, canceled), the jobs, the workers.

Off unless DASHBOARD_PASSWORD is set, and then only for whoever gives it, and changed only
from its own pages (dashboard_access.py, asked first). rq-dashboard-fast is served as
WorkbookDashboard (dashboard_app.py: it loads jobs with RQ_SERIALIZER's serializer, as the
API and the workers do, where it would unpickle them), behind a guard that answers for it
where it would answer a bare 500 and log a traceback:

- Redis down or silent, or REDIS_URL unusable: a 503 page that says what to do (the
  /json addresses that the pages fetch get the same words as JSON, as the API's 503s);
- a job Redis does not hold (a stale link: the job finished and its result expired after
  RESULT_TTL seconds, or it was deleted): a 404 page that says so, with a link back to
  the queues. rq-dashboard-fast itself answers `{"detail": "Error fetching job"}` with a
  500 for those;
- Redis lost between the guard's PING and the dashboard's own reads: the dashboard's 500
  is replaced by the 503, and the traceback it logs for a lost connection is dropped.

The dashboard reads REDIS_URL at each request, with REDIS_TIMEOUT as its socket timeouts
(dashboard_app.dashboard_url()).
"""

from __future__ import annotations

import logging
import re
from html import escape

from fastapi import FastAPI
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq.job import Job
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send

from lab.support.api.dashboard_access import access_refusal
from lab.support.api.dashboard_app import WorkbookDashboard
from lab.support.api.deps import app_queue
from lab.support.api.errors import unavailable_detail
from lab.support.config import get_settings

#: The dashboard's pages about one job: GET /job/{id}, DELETE /job/{id}, POST /job/{id}/requeue.
JOB_PATH = re.compile(r"/job/(?P<job_id>.*)", re.DOTALL)
#: The dashboard's loggers (rq-dashboard-fast's, dashboard_app.py's): each logs a traceback
#: when a read of Redis fails.
DASHBOARD_LOGGERS = (
    "rq_dashboard_fast.rq_dashboard_fast",
    "lab.support.api.dashboard_app",
    *(f"rq_dashboard_fast.utils.{name}" for name in ("jobs", "queues", "schedulers", "workers")),
)


def lost_redis(record: logging.LogRecord) -> bool:
    """False (drop it) for a log record about a lost or silent Redis: the guard answers
    those requests with its 503, which says what to do."""
    error = record.exc_info[1] if record.exc_info else None
    while error is not None:
        if isinstance(error, (RedisConnectionError, RedisTimeoutError)):
            return False
        error = error.__cause__ or error.__context__
    return True


def mount_dashboard(app: FastAPI, path: str = "/dashboard") -> None:
    """Serve rq-dashboard-fast (WorkbookDashboard) under `path` in `app`, behind
    DashboardGuard, and answer GET /favicon.ico with 204. Neither is in the app's OpenAPI
    schema (/docs): a mounted app never is."""
    for name in DASHBOARD_LOGGERS:
        logger = logging.getLogger(name)
        if lost_redis not in logger.filters:
            logger.addFilter(lost_redis)
    app.mount(path, DashboardGuard(app, WorkbookDashboard(path)), name="dashboard")
    # A browser asks the site for its icon; the dashboard's pages name none. 204 instead of a
    # 404, which the browser's console would show as an error on every page.
    app.add_api_route("/favicon.ico", lambda: Response(status_code=204), include_in_schema=False)


class DashboardGuard:
    """An ASGI app in front of rq-dashboard-fast (`dashboard`) mounted in `app`.

    First it asks whether the request may use the dashboard at all (access_refusal(): 404
    when off, 403 from another site, 401 without the password). Then, before each request
    but those of its static files, it asks Redis for a PING on the connection of `app`'s
    queue (app_queue(): with the API's timeouts, and a test's dependency overrides), and
    answers 503 when Redis does not answer; then 404 for a job Redis does not hold.
    Otherwise the dashboard answers, on REDIS_URL as it is now."""

    def __init__(self, app: FastAPI, dashboard: WorkbookDashboard):
        self.app = app
        self.dashboard = dashboard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refused = access_refusal(scope)
            if refused is not None:
                await refused(scope, receive, send)
                return
        if scope["type"] == "http" and not route_path(scope).startswith("/static/"):
            answer = await run_in_threadpool(self.refusal, scope)
            if answer is not None:
                await answer(scope, receive, send)
                return
            send = self.second_look(scope, receive, send)
        await self.dashboard(scope, receive, send)

    def second_look(self, scope: Scope, receive: Receive, send: Send) -> Send:
        """`send`, except that a 500 of the dashboard is held back until the guard has
        asked Redis again: if Redis went away since the first PING, the 503 goes instead."""
        held: list[Message] = []

        async def guarded(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 500:
                held.append(message)
                return
            if not held:
                await send(message)
                return
            held.append(message)
            if message.get("more_body"):
                return
            answer = await run_in_threadpool(self.refusal, scope)
            if answer is not None and answer.status_code == 503:
                await answer(scope, receive, send)
                return
            for each in held:
                await send(each)

        return guarded

    def refusal(self, scope: Scope) -> Response | None:
        """The answer the guard gives instead of the dashboard; None to let it answer."""
        try:
            connection = app_queue(self.app).connection
            connection.ping()
            job_id = stale_job_id(scope, connection)
        except RedisError as exc:
            return unavailable(scope, exc)
        if job_id is None:
            return None
        ttl = get_settings().result_ttl
        return page(
            404,
            "No such job",
            f"<p>No job <code>{escape(job_id)}</code> in Redis. Either it never existed, or it"
            f" finished and its result expired after RESULT_TTL seconds ({ttl} s here), or it"
            " was deleted.</p>",
            scope,
        )


def route_path(scope: Scope) -> str:
    """The request's path inside the dashboard: /queues, /job/<id>, /static/..."""
    return scope["path"].removeprefix(scope.get("root_path", ""))


def stale_job_id(scope: Scope, connection: Redis) -> str | None:
    """The job id of a request about one job that Redis does not hold as a job (no key,
    or a key of another type); None for any other request."""
    match = JOB_PATH.fullmatch(route_path(scope))
    if match is None:
        return None
    job_id = match["job_id"]
    if scope["method"] == "POST":
        job_id = job_id.removesuffix("/requeue")
    kind = connection.type(Job.key_for(job_id))
    return None if kind in (b"hash", "hash") else job_id


def unavailable(scope: Scope, exc: RedisError) -> Response:
    """503: Redis does not answer. As JSON for the /json addresses the pages fetch."""
    detail = unavailable_detail(exc)
    if route_path(scope).endswith("/json"):
        return JSONResponse({"detail": detail}, status_code=503)
    return page(503, "Redis is not reachable", f"<p>{escape(detail, quote=False)}</p>", scope)


def page(status: int, title: str, body: str, scope: Scope) -> HTMLResponse:
    """A small HTML page: `title`, `body` (HTML, escaped already) and a link to the queues."""
    home = escape(scope.get("root_path", "") + "/queues")
    return HTMLResponse(
        f"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>{title} - RQ dashboard</title>
<style>body {{ font-family: sans-serif; max-width: 46em; margin: 3em auto; padding: 0 1em;
line-height: 1.5 }} code {{ background: #f3f4f6; padding: 0 .2em; overflow-wrap: anywhere }}
</style></head>
<body>
<h1>{title}</h1>
{body}
<p><a href="{home}">Back to the dashboard's queues</a></p>
</body>
</html>
""",
        status_code=status,
    )

"""PROVIDED: rq-dashboard-fast as the workbook serves it, `WorkbookDashboard`: the stock app
(its pages, templates and static files), which loads jobs and workers with RQ_SERIALIZER's
serializer and reads REDIS_URL at each use.

Stock rq-dashboard-fast 0.9 loads every job with `Job.fetch()`, `Job.fetch_many()` and
`Worker.all()` without a serializer, that is with pickle, and has no option for another:
under RQ_SERIALIZER=json it would unpickle a job's meta planted in Redis (code run in the
API's process, experiments/attacks.py) and fail to read the workbook's own jobs. Its
constructor passes its keyword arguments to FastAPI's, whose `routes` match before the
routes its __init__ adds: the routes that load a job or a worker are given there, served
below with SettingJob and SettingWorker (queueing/serializer.py) and the stock templates,
models and CSV export. The other routes (queues, schedulers, export page) are its own.

Who may use it is asked in front of it (dashboard_access.py): its own token auth is not
turned on, so every request that reaches it may act as its "admin".
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from io import BytesIO
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from fastapi import HTTPException, Request
from fastapi.exceptions import FastAPIDeprecationWarning
from fastapi.routing import APIRoute
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers.python import PythonTracebackLexer as TracebackLexer
from redis import Redis
from rq import Queue
from rq.results import Result
from rq_dashboard_fast import RedisQueueDashboard
from rq_dashboard_fast.rq_dashboard_fast import export_to_csv
from rq_dashboard_fast.utils import jobs as stock_jobs
from rq_dashboard_fast.utils import workers as stock_workers
from rq_dashboard_fast.utils.jobs import JobData, JobDataDetailed, QueueJobRegistryStats
from rq_dashboard_fast.utils.workers import WorkerData
from starlette.responses import HTMLResponse, Response, StreamingResponse

from lab.support.config import get_settings
from lab.support.queueing.serializer import SettingJob, SettingWorker

logger = logging.getLogger(__name__)
#: A job's states as the dashboard groups them, from its registries and its queue.
STATES = ("started", "failed", "deferred", "finished", "queued", "scheduled", "canceled", "stopped")
#: The registries of a queue whose jobs the jobs page lists, besides the queue itself.
REGISTRIES = ("finished", "failed", "started", "deferred", "scheduled", "canceled")


class WorkbookDashboard(RedisQueueDashboard):
    """rq-dashboard-fast under `prefix`, with no docs of its own (/docs is the API's), its
    job and worker reads done with RQ_SERIALIZER, and REDIS_URL read at each use."""

    def __init__(self, prefix: str = "/dashboard") -> None:
        with warnings.catch_warnings():
            # Its constructor passes root_path to FastAPI, which FastAPI now deprecates.
            warnings.simplefilter("ignore", FastAPIDeprecationWarning)
            super().__init__(
                "",
                prefix=prefix,
                routes=serializer_routes(),
                docs_url=None,
                redoc_url=None,
                openapi_url=None,
            )
        self.prefix = prefix
        # The mount gives it its root path: the one its constructor set would replace that
        # of an app mounted in another (step 04's app serves the producer under /queued).
        self.root_path = ""

    @property
    def redis_url(self) -> str:
        """The URL given to the constructor, or (given "") REDIS_URL as it is now, with
        REDIS_TIMEOUT: stock rq-dashboard-fast keeps the URL it was made with."""
        return self._given_url or dashboard_url()

    @redis_url.setter
    def redis_url(self, url: str) -> None:
        self._given_url = url


def dashboard_url() -> str:
    """REDIS_URL with REDIS_TIMEOUT as its socket timeouts (unless the URL sets them): the
    dashboard makes a connection of its own from it for each thing it reads, which would
    otherwise wait forever on a silent Redis."""
    settings = get_settings()
    parts = urlsplit(settings.redis_url)
    given = {pair.partition("=")[0] for pair in parts.query.split("&")}
    timeouts = urlencode(
        {
            name: settings.redis_timeout
            for name in ("socket_timeout", "socket_connect_timeout")
            if name not in given
        }
    )
    return urlunsplit(parts._replace(query="&".join(filter(None, [parts.query, timeouts]))))


# --- the routes that load jobs and workers ------------------------------------------------


@contextmanager
def answering(what: str) -> Iterator[None]:
    """As the stock routes do: an error is logged (with its traceback) and answered 500
    with `what` (dashboard.py's guard makes it a 503 when Redis went away)."""
    try:
        yield
    except HTTPException:
        raise
    except Exception as exc:
        logger.exception("Error %s: %s", what, exc)
        raise HTTPException(status_code=500, detail=f"Error {what}") from exc


def connect(request: Request) -> Redis:
    return Redis.from_url(request.app.redis_url)


def render(request: Request, template: str, tab: str, **values: Any) -> HTMLResponse:
    """A stock template, with the values its routes give every page (auth off: admin)."""
    app: WorkbookDashboard = request.app
    context = {
        "prefix": app.prefix,
        "rq_dashboard_version": app.rq_dashboard_version,
        "protocol": app.protocol or request.url.scheme,
        "access": "admin",
        "csrf_token": "",
        "custom_title": None,
        "auth_enabled": False,
        "allow_workers": True,
        "allow_export": True,
        "allow_schedulers": True,
        "hide_meta": False,
        "active_tab": tab,
        **values,
    }
    return app.templates.TemplateResponse(request, template, context=context)


def csv_download(rows: list[dict], name: str) -> StreamingResponse:
    return StreamingResponse(
        BytesIO(export_to_csv(rows, name).encode()),
        headers={"Content-Disposition": f"attachment; filename={name}"},
        media_type="application/octet-stream",
    )


def workers(request: Request) -> list[WorkerData]:
    """The workers page's rows; each worker's current job loaded with RQ_SERIALIZER."""
    with answering("reading workers"):
        found = []
        for worker in SettingWorker.all(connection=connect(request)):
            job = worker.get_current_job()
            found.append(
                WorkerData(
                    name=worker.name,
                    current_job=job.description if job else "Idle",
                    current_job_id=job.id if job else None,
                    successful_job_count=worker.successful_job_count,
                    failed_job_count=worker.failed_job_count,
                    queues=worker.queue_names(),
                )
            )
        return found


def jobs(
    request: Request,
    queue_name: str = "all",
    state: str = "all",
    page: int = 1,
    per_page: int = 10,
    sort_dir: str = "desc",
) -> stock_jobs.PaginatedJobResponse:
    """The jobs page's data, as stock get_jobs() gives it: the jobs of `queue_name` (or
    all) in `state` (or all), newest first (sort_dir=desc), one page of them."""
    with answering("fetching job registries"):
        connection = connect(request)
        ids: list[str] = []
        for queue in Queue.all(connection=connection):
            if queue_name in ("all", queue.name):
                ids += job_ids(queue, state)
        found = [job for job in SettingJob.fetch_many(ids, connection) if job is not None]
        if state == "stopped":  # stopped jobs stay in the started registry
            found = [job for job in found if job.get_status(refresh=False) == "stopped"]
        found.sort(key=lambda job: job.created_at.timestamp(), reverse=sort_dir == "desc")
        grouped: dict[str, dict[str, list[JobData]]] = {}
        for job in found[(page - 1) * per_page : page * per_page]:
            status = job.get_status(refresh=False)
            by_state = grouped.setdefault(job.origin or "unknown", {s: [] for s in STATES})
            row = JobData(
                id=job.id, name=job.description, created_at=job.created_at, ended_at=job.ended_at
            )
            by_state.get(status, []).append(row)
        data = [
            QueueJobRegistryStats(queue_name=name, **by_state) for name, by_state in grouped.items()
        ]
        return stock_jobs.PaginatedJobResponse(
            data=data,
            total=len(found),
            page=page,
            per_page=per_page,
            total_pages=max(1, -(-len(found) // per_page)),
        )


def job_ids(queue: Queue, state: str) -> list[str]:
    """The ids of `queue`'s jobs in `state` ("all", "queued", "stopped" or a registry's)."""
    if state == "queued":
        return queue.get_job_ids()
    if state == "stopped":
        return queue.started_job_registry.get_job_ids()
    names = REGISTRIES if state == "all" else [state] if state in REGISTRIES else []
    ids = queue.get_job_ids() if state == "all" else []
    for name in names:
        ids += getattr(queue, f"{name}_job_registry").get_job_ids()
    return ids


def load_job(request: Request, job_id: str) -> SettingJob:
    return SettingJob.fetch(job_id, connection=connect(request))


def job_page(request: Request, job_id: str) -> HTMLResponse:
    """One job: its fields, its result or its traceback (highlighted), its meta."""
    with answering("fetching a specific job"):
        found = load_job(request, job_id)
        latest = found.latest_result()
        failed = latest is not None and latest.type == Result.Type.FAILED
        traceback = latest.exc_string if failed else None
        value = found.return_value()
        shown = JobDataDetailed(
            id=found.id,
            name=found.description,
            status=found.get_status(),
            created_at=found.created_at,
            enqueued_at=found.enqueued_at,
            ended_at=found.ended_at,
            result=value,
            exc_info=traceback,
            meta=found.meta,
            origin=found.origin,
        )
        return render(
            request,
            "job.html",
            "job",
            job_data=shown,
            css=HtmlFormatter().get_style_defs() if traceback else None,
            col_exc_info=traceback and highlight(traceback, TracebackLexer(), HtmlFormatter()),
            result_display=shown_result(value),
        )


def shown_result(value: Any) -> str | None:
    """A result as the job page shows it: a dict or a list as indented JSON."""
    if isinstance(value, dict | list):
        return json.dumps(value, indent=2, default=str)
    return None if value is None else str(value)


def delete_one_job(request: Request, job_id: str) -> None:
    with answering("deleting a job"):
        load_job(request, job_id).delete()


def requeue_one_job(request: Request, job_id: str) -> None:
    with answering("requeueing a job"):
        load_job(request, job_id).requeue()


def cleanup_stale(request: Request, queue_name: str) -> dict:
    """Drop from `queue_name`'s registries the ids of jobs Redis no longer holds."""
    with answering("cleaning up stale jobs"):
        connection, removed = connect(request), 0
        for queue in Queue.all(connection=connection):
            if queue_name not in ("all", queue.name):
                continue
            for name in REGISTRIES:
                registry = getattr(queue, f"{name}_job_registry")
                ids = registry.get_job_ids()
                loaded = SettingJob.fetch_many(ids, connection) if ids else []
                stale = [each for each, found in zip(ids, loaded, strict=True) if found is None]
                if stale:
                    connection.zrem(registry.key, *stale)
                    removed += len(stale)
        return {"removed": removed}


def serializer_routes() -> list[APIRoute]:
    """The routes of stock rq-dashboard-fast that load a job or a worker, served here."""

    def jobs_page(
        request: Request,
        queue_name: str = "all",
        state: str = "all",
        page: int = 1,
        per_page: int = 10,
        sort_dir: str = "desc",
    ) -> HTMLResponse:
        found = jobs(request, queue_name, state, page, per_page, sort_dir)
        return render(
            request,
            "jobs.html",
            "jobs",
            job_data=found.data,
            page=found.page,
            per_page=found.per_page,
            total_pages=found.total_pages,
            total=found.total,
        )

    def jobs_json(
        request: Request,
        queue_name: str = "all",
        state: str = "all",
        page: int = 1,
        per_page: int = 10,
        sort_dir: str = "desc",
    ) -> stock_jobs.PaginatedJobResponse:
        return jobs(request, queue_name, state, page, per_page, sort_dir)

    def workers_page(request: Request) -> HTMLResponse:
        return render(request, "workers.html", "workers", worker_data=workers(request))

    def workers_json(request: Request) -> list[WorkerData]:
        return workers(request)

    def export_jobs_csv(request: Request) -> Response:
        found = jobs(request, per_page=10).data  # one page, as stock's export
        rows = stock_jobs.convert_queue_job_registry_stats_to_json_dict(found)
        rows = stock_jobs.convert_queue_job_registry_dict_to_list(rows)
        return csv_download(rows, "jobs_data.csv")

    def export_workers_csv(request: Request) -> Response:
        rows = stock_workers.convert_worker_data_to_json_dict(workers(request))
        return csv_download(stock_workers.convert_workers_dict_to_list(rows), "worker_data.csv")

    return [
        APIRoute("/workers", workers_page, methods=["GET"], response_class=HTMLResponse),
        APIRoute("/workers/json", workers_json, methods=["GET"]),
        APIRoute("/jobs", jobs_page, methods=["GET"], response_class=HTMLResponse),
        APIRoute("/jobs/json", jobs_json, methods=["GET"]),
        APIRoute("/job/{job_id}", job_page, methods=["GET"], response_class=HTMLResponse),
        APIRoute("/job/{job_id}", delete_one_job, methods=["DELETE"]),
        APIRoute("/job/{job_id}/requeue", requeue_one_job, methods=["POST"]),
        APIRoute("/queues/{queue_name}/cleanup-stale", cleanup_stale, methods=["POST"]),
        APIRoute("/export/jobs", export_jobs_csv, methods=["GET"]),
        APIRoute("/export/workers", export_workers_csv, methods=["GET"]),
    ]

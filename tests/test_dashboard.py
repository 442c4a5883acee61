"""rq-dashboard-fast at /dashboard in the producer (provided code: lab/support/api/dashboard.py),
in this process with TestClient: its pages, the 404 page of a job Redis does not hold (where
rq-dashboard-fast alone answers 500 and logs a traceback), and the 503 page when Redis is
down. tests/test_browser.py loads it in a real browser; tests/test_dashboard_access.py
tests who may use it. Here it is on, and the client gives its password and, as a browser on
its pages does, its own Origin.

None of these tests checks learner code, so none is an exercise test: they run on the
reference producer whatever --impl says."""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Iterator

import pytest
from fastapi import HTTPException
from fastapi.testclient import TestClient
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Queue

from lab.support.api.dashboard import DashboardGuard, lost_redis
from lab.support.api.dashboard_app import dashboard_url
from lab.support.config import get_settings
from solutions import tasks

ADDRESS = "user@example.com"
SECRET = "s3cret-Pa55"
#: The origin of TestClient's requests (http://testserver): the dashboard's own.
OWN_ORIGIN = {"Origin": "http://testserver"}

pytestmark = pytest.mark.usefixtures("dashboard_on")


@pytest.fixture
def reference_api(reference_api: TestClient, dashboard_on: tuple[str, str]) -> TestClient:
    """The reference producer, its client logged in to the dashboard, from its own pages."""
    reference_api.auth = dashboard_on
    reference_api.headers.update(OWN_ORIGIN)
    return reference_api


@pytest.fixture
def down_api(
    request, monkeypatch, closed_port, silent_port, fresh_app, dashboard_on
) -> Iterator[TestClient]:
    """The reference producer with REDIS_URL (holding a password) on a port where nothing
    listens ("down") or where nothing answers ("silent")."""
    from solutions.producer import app

    port = closed_port if request.param == "down" else silent_port
    monkeypatch.setenv("REDIS_URL", f"redis://:{SECRET}@127.0.0.1:{port}/0")
    get_settings.cache_clear()
    with TestClient(fresh_app(app), headers=OWN_ORIGIN) as client:
        client.auth = dashboard_on
        yield client
    fresh_app(app)


def assert_no_traceback_logged(caplog: pytest.LogCaptureFixture) -> None:
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not logged, [r.getMessage() for r in logged]


# --- the pages ------------------------------------------------------------------------------


def test_the_queues_page_lists_the_apps_queues_with_their_counts(reference_api, redis_conn):
    app_queue = get_settings().queue_name
    for _ in range(3):
        Queue(app_queue, connection=redis_conn).enqueue(tasks.send_fake_email, ADDRESS, 0)
    Queue("high", connection=redis_conn).enqueue(tasks.send_fake_email, ADDRESS, 0)

    page = reference_api.get("/dashboard/queues")
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert f">{app_queue}</a>" in page.text and ">high</a>" in page.text
    counts = {
        q["queue_name"]: q["queued"] for q in reference_api.get("/dashboard/queues/json").json()
    }
    assert counts == {app_queue: 3, "high": 1}


def test_dashboard_redirects_to_its_queues_page(reference_api):
    response = reference_api.get("/dashboard", follow_redirects=True)
    assert response.status_code == 200
    assert str(response.url).endswith("/dashboard/queues")


# rq-dashboard-fast's job page reads job.exc_info and job.result, which RQ 3 deprecates.
@pytest.mark.filterwarnings("ignore:job.exc_info is deprecated:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:job.result is deprecated:DeprecationWarning")
def test_a_jobs_page_shows_the_job(reference_api, redis_conn, caplog):
    job = Queue(connection=redis_conn).enqueue(tasks.send_fake_email, ADDRESS, 0)
    page = reference_api.get(f"/dashboard/job/{job.id}")
    assert page.status_code == 200, page.text
    assert job.id in page.text and "send_fake_email" in page.text
    assert_no_traceback_logged(caplog)


def test_the_jobs_list_groups_the_jobs_by_queue_and_state(
    reference_api, redis_conn, run_queued_jobs
):
    """dashboard_app.py serves the list with RQ_SERIALIZER's serializer, as stock would."""
    queue = Queue(get_settings().queue_name, connection=redis_conn)
    failed = queue.enqueue(tasks.send_fake_email, ADDRESS, -1)  # ValueError: negative delay
    finished = queue.enqueue(tasks.send_fake_email, ADDRESS, 0)
    run_queued_jobs(queue)
    queued = [queue.enqueue(tasks.send_fake_email, ADDRESS, 0).id for _ in range(2)]
    listed = reference_api.get("/dashboard/jobs/json", params={"per_page": 50}).json()
    assert listed["total"] == 4, listed
    (mine,) = listed["data"]
    assert mine["queue_name"] == queue.name
    assert [j["id"] for j in mine["failed"]] == [failed.id]
    assert [j["id"] for j in mine["finished"]] == [finished.id]
    assert sorted(j["id"] for j in mine["queued"]) == sorted(queued)
    only_failed = reference_api.get("/dashboard/jobs/json", params={"state": "failed"}).json()
    assert only_failed["total"] == 1 and only_failed["data"][0]["failed"][0]["id"] == failed.id
    paged = reference_api.get("/dashboard/jobs/json", params={"per_page": 3, "page": 2}).json()
    assert (paged["total"], paged["total_pages"]) == (4, 2)
    assert sum(len(jobs) for jobs in paged["data"][0].values() if isinstance(jobs, list)) == 1
    page = reference_api.get("/dashboard/jobs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csv = reference_api.get("/dashboard/export/jobs").text.splitlines()
    assert csv[0] == "id,queue_name,status,job_name,created_at,ended_at" and len(csv) == 5
    assert "ValueError" in reference_api.get(f"/dashboard/job/{failed.id}").text
    assert reference_api.delete(f"/dashboard/job/{finished.id}").status_code == 200
    assert not redis_conn.exists(finished.key)


def test_the_workers_page_answers(reference_api):
    page = reference_api.get("/dashboard/workers")
    assert page.status_code == 200, page.text
    assert 'id="workers"' in page.text


def test_the_dashboard_is_not_in_the_openapi_schema(reference_api):
    """/docs documents the API; the dashboard is a mounted app, not an endpoint of it."""
    paths = reference_api.get("/openapi.json").json()["paths"]
    assert "/health" in paths
    assert not [path for path in paths if path.startswith("/dashboard")]


def test_the_site_icon_is_204_so_a_browser_logs_no_error(reference_api):
    """A browser asks every site for /favicon.ico; a 404 would be an error in its console."""
    assert reference_api.get("/favicon.ico").status_code == 204
    assert "/favicon.ico" not in reference_api.get("/openapi.json").json()["paths"]


def test_the_dashboard_has_no_docs_of_its_own(reference_api):
    assert reference_api.get("/dashboard/docs").status_code == 404
    assert reference_api.get("/dashboard/openapi.json").status_code == 404


# --- a job Redis does not hold: 404 ---------------------------------------------------------

STALE = [
    ("GET", "/dashboard/job/{id}"),
    ("DELETE", "/dashboard/job/{id}"),
    ("POST", "/dashboard/job/{id}/requeue"),
]


def assert_no_such_job_page(response, shown: str) -> None:
    assert response.status_code == 404, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert f"No job <code>{shown}</code> in Redis" in response.text
    assert "expired after RESULT_TTL seconds" in response.text
    assert '<a href="/dashboard/queues">' in response.text


@pytest.mark.parametrize(("method", "path"), STALE, ids=[m for m, _ in STALE])
def test_a_job_that_expired_is_a_404_page_naming_it(
    reference_api, redis_conn, caplog, method, path
):
    job = Queue(connection=redis_conn).enqueue(tasks.send_fake_email, ADDRESS, 0)
    job.delete()  # as Redis drops a finished job after RESULT_TTL
    response = reference_api.request(method, path.format(id=job.id))
    assert_no_such_job_page(response, job.id)
    assert_no_traceback_logged(caplog)


ODD_IDS = {
    "script": ("%3Cscript%3Ealert(1)%3C%2Fscript%3E", "&lt;script&gt;alert(1)&lt;/script&gt;"),
    "slash": ("a%2Fb", "a/b"),
    "unicode": ("%C3%A9t%C3%A9-%E2%9C%93", "été-✓"),
    "quote": ("it's%22", "it&#x27;s&quot;"),
    "long": ("x" * 10_000, "x" * 10_000),
}


@pytest.mark.parametrize(("method", "path"), STALE, ids=[m for m, _ in STALE])
@pytest.mark.parametrize(("sent", "shown"), ODD_IDS.values(), ids=ODD_IDS.keys())
def test_an_odd_job_id_is_named_escaped_in_the_404(
    reference_api, caplog, method, path, sent, shown
):
    response = reference_api.request(method, path.format(id=sent))
    assert_no_such_job_page(response, shown)
    assert "<script>" not in response.text
    assert_no_traceback_logged(caplog)


def test_a_key_that_is_not_a_job_is_a_404_too(reference_api, redis_conn, caplog):
    """rq-dashboard-fast would read it as a job hash and answer 500 (WRONGTYPE)."""
    redis_conn.set("rq:job:not-a-hash", "x")
    assert_no_such_job_page(reference_api.get("/dashboard/job/not-a-hash"), "not-a-hash")
    assert_no_traceback_logged(caplog)


# --- Redis down: 503 ------------------------------------------------------------------------


@pytest.mark.parametrize("down_api", ["down", "silent"], indirect=True)
@pytest.mark.parametrize(
    "path", ["/dashboard/queues", "/dashboard/workers", "/dashboard/job/some-job"]
)
def test_with_redis_down_a_page_is_503_saying_what_to_do(down_api, caplog, path):
    started = time.monotonic()
    response = down_api.get(path)
    assert response.status_code == 503, response.text
    assert time.monotonic() - started < 2, "the guard waited longer than REDIS_TIMEOUT"
    assert response.headers["content-type"].startswith("text/html")
    assert "Redis is not reachable at redis://:***@127.0.0.1:" in response.text
    assert "python -m lab redis start" in response.text
    assert SECRET not in response.text
    assert_no_traceback_logged(caplog)


@pytest.mark.parametrize("down_api", ["down"], indirect=True)
@pytest.mark.parametrize("path", ["/dashboard/queues/json", "/dashboard/workers/json"])
def test_with_redis_down_what_a_page_fetches_is_503_json(down_api, path):
    """A page left open keeps fetching its counts: those answers are 503, not 500."""
    response = down_api.get(path)
    assert response.status_code == 503, response.text
    assert "python -m lab redis start" in response.json()["detail"]
    assert SECRET not in response.text


@pytest.mark.parametrize("down_api", ["down"], indirect=True)
def test_with_redis_down_the_static_files_are_served(down_api):
    response = down_api.get("/dashboard/static/js/autorefresh.js")
    assert response.status_code == 200
    assert "initAutorefresh" in response.text


def test_a_bad_redis_url_is_503_naming_it(reference_api, monkeypatch, fresh_app):
    from solutions.producer import app

    monkeypatch.setenv("REDIS_URL", f"redis://:{SECRET}@127.0.0.1:6379/0?colour=blue")
    get_settings.cache_clear()
    fresh_app(app)
    response = reference_api.get("/dashboard/queues")
    assert response.status_code == 503, response.text
    assert "is not a usable Redis URL" in response.text
    assert "unknown option 'colour'" in response.text
    assert SECRET not in response.text


# --- where the dashboard reads --------------------------------------------------------------


def test_the_dashboard_reads_redis_url_now_with_timeouts(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6390/3")
    monkeypatch.setenv("REDIS_TIMEOUT", "0.5")
    get_settings.cache_clear()
    assert dashboard_url() == (
        "redis://127.0.0.1:6390/3?socket_timeout=0.5&socket_connect_timeout=0.5"
    )
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6390/3?password=pw&socket_timeout=2")
    get_settings.cache_clear()
    assert dashboard_url() == (
        "redis://127.0.0.1:6390/3?password=pw&socket_timeout=2&socket_connect_timeout=0.5"
    )
    client = Redis.from_url(dashboard_url())
    kwargs = client.connection_pool.connection_kwargs
    assert (kwargs["socket_timeout"], kwargs["socket_connect_timeout"]) == (2, 0.5)
    client.close()


def test_step_04s_app_serves_the_producers_dashboard_under_queued(
    redis_conn, fresh_app, dashboard_on
):
    """The strategies app mounts the producer under /queued, dashboard and all."""
    from solutions.strategies import app

    with TestClient(fresh_app(app)) as client:
        client.auth = dashboard_on
        page = client.get("/queued/dashboard/queues")
        assert page.status_code == 200, page.text
        assert_no_such_job_page_under(client.get("/queued/dashboard/job/gone"), "/queued")
    fresh_app(app)


def assert_no_such_job_page_under(response, root: str) -> None:
    assert response.status_code == 404, response.text
    assert f'<a href="{root}/dashboard/queues">' in response.text


# --- Redis lost between the guard's PING and the dashboard's reads -------------------------


def broken_dashboard(status: int):
    """An ASGI app that answers `status` with a JSON body, as rq-dashboard-fast does when a
    read of Redis fails after the guard's PING."""

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b'{"detail": "Error reading"}'})

    return app


def answer_of(guard: DashboardGuard, path: str, auth: tuple[str, str]) -> tuple[int, bytes]:
    login = base64.b64encode(":".join(auth).encode())
    headers = [(b"authorization", b"Basic " + login)]
    scope = {"type": "http", "method": "GET", "path": path, "root_path": "", "headers": headers}
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b""}

    async def send(message):
        sent.append(message)

    asyncio.run(guard(scope, receive, send))
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], body


def test_a_500_after_redis_went_away_becomes_the_503(
    monkeypatch, closed_port, fresh_app, dashboard_on
):
    from solutions.producer import app

    guard = next(r.app for r in app.routes if isinstance(getattr(r, "app", None), DashboardGuard))
    monkeypatch.setattr(guard, "dashboard", broken_dashboard(500))
    first_look, looks = guard.refusal, []

    def refusal(scope):  # Redis answers the first PING, and is gone by the second
        looks.append(scope["path"])
        if len(looks) == 1:
            return None
        monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{closed_port}/0")
        get_settings.cache_clear()
        fresh_app(app)
        return first_look(scope)

    monkeypatch.setattr(guard, "refusal", refusal)
    fresh_app(app)
    try:
        status, body = answer_of(guard, "/queues/json", dashboard_on)
    finally:
        fresh_app(app)
    assert len(looks) == 2, f"the guard asked Redis {len(looks)} times, not before and after"
    assert status == 503 and b"python -m lab redis start" in body, (status, body[:300])


def test_a_500_with_redis_up_is_passed_on_as_it_is(
    monkeypatch, redis_conn, fresh_app, dashboard_on
):
    from solutions.producer import app

    guard = next(r.app for r in app.routes if isinstance(getattr(r, "app", None), DashboardGuard))
    monkeypatch.setattr(guard, "dashboard", broken_dashboard(500))
    fresh_app(app)
    try:
        status, body = answer_of(guard, "/queues/json", dashboard_on)
    finally:
        fresh_app(app)
    assert (status, body) == (500, b'{"detail": "Error reading"}')


def test_only_tracebacks_of_a_lost_redis_are_dropped_from_the_dashboards_log():
    def record(exc: BaseException) -> logging.LogRecord:
        return logging.LogRecord("x", logging.ERROR, "f", 1, "m", None, (type(exc), exc, None))

    try:
        try:
            raise RedisConnectionError("Connection refused")
        except RedisConnectionError as exc:
            raise HTTPException(500, "Error reading") from exc
    except HTTPException as wrapped:
        lost = wrapped
    assert lost_redis(record(lost)) is False, "a lost Redis, under the dashboard's 500"
    assert lost_redis(record(RedisTimeoutError("Timeout reading"))) is False
    assert lost_redis(record(ValueError("a bug"))) is True, "a real error must still be logged"

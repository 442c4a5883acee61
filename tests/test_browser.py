"""The dashboard (/dashboard, rq-dashboard-fast) in a real headless browser: Playwright
driving the Chromium or Chrome installed here (lab/support/course/browser.py), against the reference
producer served by uvicorn and a real worker. The page loads without an error, its table
shows for each of the workbook's queues the counts GET /stats reports (and RQ itself gives),
its workers page lists the worker, a stale link to a job shows the 404 page, and the job
page's Requeue button works (the dashboard's own pages pass its same-origin check). The
browser gives the dashboard's password, as a person would in its login dialog.

Skipped when no browser is found, unless CI is set: then it fails. Not an exercise test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx
import pytest
from redis import Redis
from rq import Queue, Worker

from lab.support.course.browser import find_chromium, missing_browser, open_page, screenshot
from lab.support.queueing.monitor import rq_counts
from lab.support.servers.processes import poll, start_api, start_worker
from solutions import tasks

if TYPE_CHECKING:
    from playwright.sync_api import Page

ADDRESS = "user@example.com"
#: The workbook's queues: the app's (QUEUE_NAME) and the priorities' (step 08a).
QUEUES = ("default", "high", "low")
#: The columns of the dashboard's queues table, in its order.
COLUMNS = ("queued", "started", "failed", "deferred", "finished", "canceled")
#: The dashboard's password in these tests, and the user name and password a browser gives.
PASSWORD = "dashboard-password-of-the-browser-tests"
LOGIN = ("admin", PASSWORD)


@pytest.fixture(scope="module")
def chromium() -> str:
    found = find_chromium()
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set, so the browser test must run. {missing_browser()}")
        pytest.skip(missing_browser())
    return found


def expected_counts(api_url: str, connection: Redis) -> dict[str, dict[str, int]]:
    """Per queue, {column: count} as the dashboard must show it: what GET /stats of the API
    at `api_url` reports, once checked against RQ's own counts (the queue's length, the
    sizes of its registries)."""
    answer = httpx.get(f"{api_url}/stats", timeout=10).json()
    counts = {q["name"]: {column: q[column] for column in COLUMNS} for q in answer["queues"]}
    for name in QUEUES:
        every = rq_counts(Queue(name, connection=connection))
        rq_says = {column: every[column] for column in COLUMNS}
        assert counts[name] == rq_says, f"GET /stats says {counts[name]} of {name}, RQ {rq_says}"
    return counts


@pytest.fixture
def scene(redis_conn: Redis, chromium: str) -> Iterator[dict]:
    """Jobs in every state the table shows, a worker on default and high (none on low),
    and the API: {"api": ..., "worker": ...}."""
    default, high, low = (Queue(name, connection=redis_conn) for name in QUEUES)
    for _ in range(3):
        default.enqueue(tasks.send_fake_email, ADDRESS, 0)  # finished
    for _ in range(2):  # failed: a mail server that never answers, and no retry
        high.enqueue(tasks.send_flaky_email, ADDRESS, 99)
    waiting = low.enqueue(tasks.send_fake_email, ADDRESS, 0)  # queued: no worker on low
    low.enqueue(tasks.send_fake_email, ADDRESS, 0)
    low.enqueue(tasks.send_fake_email, ADDRESS, 0).cancel()  # canceled
    default.enqueue(tasks.send_fake_email, ADDRESS, 0, depends_on=waiting)  # deferred
    with start_worker("default", "high", "--simple", package="solutions") as worker:
        poll(
            lambda: (default.finished_job_registry.count, high.failed_job_registry.count),
            lambda done: done == (3, 2),
            "3 finished and 2 failed jobs",
            timeout=10,
        )
        running = default.enqueue(tasks.send_fake_email, ADDRESS, 60)  # started
        poll(running.get_status, lambda status: status == "started", "a job started", 10)
        with start_api(package="solutions", env={"DASHBOARD_PASSWORD": PASSWORD}) as api:
            yield {"api": api, "worker": worker}
        worker.kill()  # not stop(): that would wait for the running job


#: True once the page's script has drawn the table from the counts it fetched (/queues/json):
#: its rows replace those the server wrote, whose menus have ids "tmenu-ssr-<queue>".
RENDERED = """() => {
  const rows = document.querySelectorAll('#queues tbody tr');
  return rows.length > 0 && !document.querySelector('#queues tbody [id^="tmenu-ssr-"]');
}"""


def table_counts(page: Page) -> dict[str, dict[str, int]]:
    """The dashboard's queues table as the browser shows it: {queue: {column: count}}."""
    rows = page.locator("#queues tbody tr").evaluate_all(
        "rows => rows.map(row => Array.from(row.cells, cell => cell.innerText.trim()))"
    )
    return {row[0]: counts_of(row[1 : 1 + len(COLUMNS)]) for row in rows}


def counts_of(cells: list[str]) -> dict[str, int]:
    return dict(zip(COLUMNS, map(int, cells), strict=True))


def test_the_dashboard_in_a_browser_shows_rqs_counts_without_errors(scene, redis_conn):
    api = scene["api"]
    with open_page(f"{api.url}/dashboard/queues", credentials=LOGIN) as (page, errors):
        page.wait_for_function(RENDERED)
        shown = table_counts(page)
        assert shown == expected_counts(api.url, redis_conn), api.output()
        assert shown["default"]["finished"] == 3 and shown["high"]["failed"] == 2
        assert shown["low"]["queued"] == 2 and shown["default"]["started"] == 1
        assert shown["default"]["deferred"] == 1 and shown["low"]["canceled"] == 1
        page.wait_for_load_state("networkidle")
        assert errors == [], errors

        page.goto(f"{api.url}/dashboard/workers")
        page.wait_for_load_state("networkidle")
        (worker,) = Worker.all(connection=redis_conn)
        assert worker.name in page.locator("#workers").inner_text()
        assert errors == [], errors


def test_a_stale_job_link_in_a_browser_is_the_404_page(scene, redis_conn):
    api = scene["api"]
    job = Queue("low", connection=redis_conn).enqueue(tasks.send_fake_email, ADDRESS, 0)
    job.delete()  # as Redis drops a finished job after RESULT_TTL
    with open_page(f"{api.url}/dashboard/queues", credentials=LOGIN) as (page, errors):
        response = page.goto(f"{api.url}/dashboard/job/{job.id}")
        assert response.status == 404
        assert page.locator("h1").inner_text() == "No such job"
        assert f"No job {job.id} in Redis" in page.locator("body").inner_text()
        page.get_by_role("link", name="Back to the dashboard's queues").click()
        page.wait_for_url("**/dashboard/queues")
        page.wait_for_selector("#queues tbody tr")
    assert "Traceback" not in api.output()


def test_screenshot_gives_the_png_of_the_rendered_page(scene):
    """screenshot() (the notebook's picture of the dashboard) returns PNG bytes, in memory."""
    url = f"{scene['api'].url}/dashboard/queues"
    png = screenshot(url, wait_for="#queues tbody tr", credentials=LOGIN)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000, png[:16]


def test_without_the_password_the_browser_gets_the_401(scene):
    """Headless Chromium has no one to type the password in its dialog: the page fails."""
    with pytest.raises(Exception, match="ERR_INVALID_AUTH_CREDENTIALS"):  # noqa: PT011
        with open_page(f"{scene['api'].url}/dashboard/queues"):
            pass
    with httpx.Client(timeout=10) as client:
        answer = client.get(f"{scene['api'].url}/dashboard/queues")
    assert answer.status_code == 401 and answer.headers["www-authenticate"].startswith("Basic")


def test_the_job_pages_requeue_button_requeues_from_the_dashboards_own_page(scene, redis_conn):
    """The page's own fetch() POST carries the dashboard's Origin: the guard lets it by."""
    api = scene["api"]
    (job_id, *_) = Queue("high", connection=redis_conn).failed_job_registry.get_job_ids()
    before = redis_conn.hget(f"rq:job:{job_id}", "enqueued_at")
    with open_page(f"{api.url}/dashboard/job/{job_id}", credentials=LOGIN) as (page, errors):
        page.on("dialog", lambda dialog: dialog.accept())  # "Requeue job ...?"
        with page.expect_response(lambda r: r.url.endswith("/requeue")) as answer:
            page.get_by_role("button", name="Requeue").click()
        assert answer.value.status == 200, answer.value.text()
        assert answer.value.request.header_value("origin") == api.url
    assert redis_conn.hget(f"rq:job:{job_id}", "enqueued_at") != before, "not requeued"
    assert job_id not in Queue("high", connection=redis_conn).failed_job_registry.get_job_ids()

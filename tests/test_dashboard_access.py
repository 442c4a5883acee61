"""Who may use RQ's dashboard at /dashboard (lab/support/api/dashboard_access.py), with real
requests of each shape: off unless DASHBOARD_PASSWORD is set (404); on, HTTP Basic with
DASHBOARD_USER and DASHBOARD_PASSWORD (401 otherwise); and a request that changes something
(requeue, delete a job, empty a queue) only from the dashboard's own origin: a cross-site
shape gets 403 JSON, even with the right password (a browser holding it sends it), and
Redis is as it was. The reference producer in this process (TestClient, whose own origin
is http://testserver), and once end to end under uvicorn.

None of these tests checks learner code: they run on the reference producer whatever
--impl says."""

from __future__ import annotations

import base64

import httpx
import pytest
from fastapi.testclient import TestClient
from redis import Redis
from rq import Queue
from rq.job import Job

from lab.support.api.dashboard_access import origin_of
from lab.support.config import get_settings
from lab.support.servers.processes import start_api
from solutions import tasks

ADDRESS = "user@example.com"
OWN = "http://testserver"
EVIL = "http://evil.example"
#: A queue of jobs that a cross-site request tries to empty.
VICTIMS = "victims"
#: The requests that change something, by what they change ({job}: a failed job's id).
CHANGES = {
    "empty a queue": ("DELETE", f"/dashboard/queues/{VICTIMS}"),
    "requeue a job": ("POST", "/dashboard/job/{job}/requeue"),
    "delete a job": ("DELETE", "/dashboard/job/{job}"),
    "clean up a queue": ("POST", f"/dashboard/queues/{VICTIMS}/cleanup-stale"),
}
#: Requests shaped as another site's page makes them: the headers a browser sends.
CROSS_SITE = {
    "evil origin": {"Origin": EVIL},
    "text/plain form post": {"Origin": EVIL, "Content-Type": "text/plain"},
    "referer only": {"Referer": f"{EVIL}/page.html", "Content-Type": "text/plain"},
    "null origin": {"Origin": "null", "Referer": f"{OWN}/dashboard/queues"},
    "sec-fetch-site": {"Origin": OWN, "Sec-Fetch-Site": "cross-site"},
    "other scheme": {"Origin": "https://testserver"},
    "other port": {"Origin": "http://testserver:8080"},
    "longer host": {"Origin": "http://testserver.evil.example"},
    "neither origin nor referer": {},
}


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def scene(redis_conn: Redis, run_queued_jobs) -> dict:
    """A failed job of the app's queue, and three jobs queued on VICTIMS."""
    queue = Queue(get_settings().queue_name, connection=redis_conn)
    failed = queue.enqueue(tasks.send_fake_email, ADDRESS, -1)  # ValueError: a negative delay
    run_queued_jobs(queue)
    assert failed.get_status(refresh=True) == "failed"
    victims = Queue(VICTIMS, connection=redis_conn)
    for _ in range(3):
        victims.enqueue(tasks.send_fake_email, ADDRESS, 0)
    return {"failed": failed, "victims": victims}


def assert_unchanged(scene: dict) -> None:
    """The failed job is still failed, in the failed registry; VICTIMS holds its 3 jobs."""
    job: Job = scene["failed"]
    assert job.get_status(refresh=True) == "failed"
    assert job.id in Queue(job.origin, connection=job.connection).failed_job_registry
    assert scene["victims"].count == 3


def send(client: TestClient, change: str, scene: dict, headers: dict) -> httpx.Response:
    method, path = CHANGES[change]
    return client.request(
        method, path.format(job=scene["failed"].id), headers=headers, content=b"x=1"
    )


# --- off by default ------------------------------------------------------------------------


def test_off_by_default_every_dashboard_address_is_404(reference_api, scene):
    login = {"Authorization": basic("admin", ""), "Origin": OWN}
    for method, path in [
        ("GET", "/dashboard"),
        ("GET", "/dashboard/queues"),
        ("GET", "/dashboard/queues/json"),
        ("GET", "/dashboard/static/js/autorefresh.js"),
        *CHANGES.values(),
    ]:
        url = path.format(job=scene["failed"].id)
        answer = reference_api.request(method, url, headers=login)
        assert answer.status_code == 404, (method, path, answer.text)
        assert "DASHBOARD_PASSWORD" in answer.json()["detail"]
    assert_unchanged(scene)
    assert reference_api.get("/health").status_code == 200  # the API itself is there


# --- the password --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/dashboard/queues", "/dashboard/queues/json", "/dashboard/static/js/autorefresh.js"]
)
def test_on_without_credentials_is_401_asking_for_them(reference_api, dashboard_on, path):
    answer = reference_api.get(path)
    assert answer.status_code == 401, answer.text
    assert answer.headers["WWW-Authenticate"] == 'Basic realm="RQ dashboard", charset="UTF-8"'
    assert answer.json()["detail"].startswith("The dashboard asks for its user name")


WRONG = {
    "wrong password": lambda user, pw: basic(user, pw + "x"),
    "password prefix": lambda user, pw: basic(user, pw[:-1]),
    "empty password": lambda user, pw: basic(user, ""),
    "wrong user": lambda user, pw: basic("root", pw),
    "no colon": lambda user, pw: "Basic " + base64.b64encode(pw.encode()).decode(),
    "not base64": lambda user, pw: "Basic %%%",
    "bearer": lambda user, pw: f"Bearer {pw}",
    "bare password": lambda user, pw: pw,
}


@pytest.mark.parametrize("given", WRONG.values(), ids=WRONG.keys())
def test_wrong_credentials_are_401(reference_api, dashboard_on, given):
    answer = reference_api.get("/dashboard/queues", headers={"Authorization": given(*dashboard_on)})
    assert answer.status_code == 401, answer.text
    assert "WWW-Authenticate" in answer.headers


def test_the_right_password_opens_the_pages(reference_api, dashboard_on, scene):
    reference_api.auth = dashboard_on
    page = reference_api.get("/dashboard/queues")
    assert page.status_code == 200 and f">{VICTIMS}</a>" in page.text
    counts = {
        q["queue_name"]: q["queued"] for q in reference_api.get("/dashboard/queues/json").json()
    }
    assert counts[VICTIMS] == 3
    assert reference_api.get(f"/dashboard/job/{scene['failed'].id}").status_code == 200


def test_another_user_name_is_set_by_dashboard_user(reference_api, dashboard_on, monkeypatch):
    monkeypatch.setenv("DASHBOARD_USER", "ops")
    get_settings.cache_clear()
    password = dashboard_on[1]
    assert reference_api.get("/dashboard/queues", auth=("admin", password)).status_code == 401
    assert reference_api.get("/dashboard/queues", auth=("ops", password)).status_code == 200


# --- requests that change something: from the dashboard's own origin only -------------------


@pytest.mark.parametrize("change", CHANGES)
@pytest.mark.parametrize("headers", CROSS_SITE.values(), ids=CROSS_SITE.keys())
def test_a_cross_site_change_is_403_and_changes_nothing(
    reference_api, dashboard_on, scene, change, headers
):
    """With the right password, as a browser that has it sends it to any page's request."""
    reference_api.auth = dashboard_on
    answer = send(reference_api, change, scene, headers)
    assert answer.status_code == 403, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert "must come from the dashboard's own pages (http://testserver)" in answer.json()["detail"]
    assert_unchanged(scene)


def test_a_cross_site_change_without_credentials_is_403_not_a_login_dialog(
    reference_api, dashboard_on, scene
):
    """403 before the password is asked: another site's page gets no 401, which would open
    the browser's login dialog over it."""
    answer = send(reference_api, "requeue a job", scene, CROSS_SITE["text/plain form post"])
    assert answer.status_code == 403, answer.text
    assert "WWW-Authenticate" not in answer.headers
    assert_unchanged(scene)


def test_a_same_origin_change_without_credentials_is_401(reference_api, dashboard_on, scene):
    answer = send(reference_api, "requeue a job", scene, {"Origin": OWN})
    assert answer.status_code == 401, answer.text
    assert_unchanged(scene)


SAME_ORIGIN = {
    "origin": {"Origin": OWN},
    "origin with its default port": {"Origin": "http://TestServer:80"},
    "referer only": {"Referer": f"{OWN}/dashboard/job/x"},
    "sec-fetch-site same-origin": {"Origin": OWN, "Sec-Fetch-Site": "same-origin"},
}


@pytest.mark.parametrize("headers", SAME_ORIGIN.values(), ids=SAME_ORIGIN.keys())
def test_from_the_dashboards_own_origin_requeue_and_empty_work(
    reference_api, dashboard_on, scene, headers
):
    reference_api.auth = dashboard_on
    job: Job = scene["failed"]
    assert send(reference_api, "requeue a job", scene, headers).status_code == 200
    assert job.get_status(refresh=True) == "queued"
    assert job.id not in Queue(job.origin, connection=job.connection).failed_job_registry
    emptied = send(reference_api, "empty a queue", scene, headers)
    assert emptied.status_code == 200, emptied.text
    assert len(emptied.json()) == 3 and scene["victims"].count == 0


def test_a_reading_request_needs_no_origin(reference_api, dashboard_on):
    """GET and HEAD change nothing: a link from anywhere opens a page (with the password)."""
    reference_api.auth = dashboard_on
    assert reference_api.get("/dashboard/queues", headers={"Origin": EVIL}).status_code == 200
    assert reference_api.head("/dashboard/queues").status_code in (200, 405)


def test_origins_are_compared_by_scheme_host_and_port():
    assert origin_of("http://Example.COM") == ("http", "example.com", 80)
    assert origin_of("https://example.com/path?q") == ("https", "example.com", 443)
    assert origin_of("http://example.com:8000/") == ("http", "example.com", 8000)
    for not_an_origin in ("null", "", "/dashboard", "file:///etc", "http://host:99999"):
        assert origin_of(not_an_origin) is None, not_an_origin


# --- end to end: uvicorn -------------------------------------------------------------------


def test_the_served_dashboard_end_to_end(redis_conn, scene, dashboard_on):
    """The reference producer under uvicorn with DASHBOARD_PASSWORD: each shape of request
    over a real socket, and Redis read after each."""
    env = {"DASHBOARD_PASSWORD": dashboard_on[1]}
    job: Job = scene["failed"]
    with start_api(package="solutions", env=env) as api, httpx.Client(timeout=10) as client:
        queues = f"{api.url}/dashboard/queues"
        refused = client.get(queues)
        assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith(
            "Basic"
        )
        assert client.get(queues, auth=("admin", "guess")).status_code == 401
        assert client.get(queues, auth=dashboard_on).status_code == 200
        forged = {"Origin": EVIL, "Content-Type": "text/plain"}
        requeue = f"{api.url}/dashboard/job/{job.id}/requeue"
        answer = client.post(requeue, auth=dashboard_on, headers=forged, content=b"x=1")
        assert answer.status_code == 403, answer.text
        answer = client.delete(f"{queues}/{VICTIMS}", auth=dashboard_on, headers=forged)
        assert answer.status_code == 403, answer.text
        assert_unchanged(scene)
        own = {"Origin": api.url}
        assert client.post(requeue, auth=dashboard_on, headers=own).status_code == 200
        assert job.get_status(refresh=True) == "queued"
        assert client.delete(f"{queues}/{VICTIMS}", auth=dashboard_on, headers=own).is_success
        assert scene["victims"].count == 0
        said = api.output()
    assert "Traceback" not in said, said

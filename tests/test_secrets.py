"""No command, log line or error answer shows the password of REDIS_URL, in any of the forms
a URL can hold it; and a REDIS_URL that cannot be used at all is said so in one line
(`python -m lab redis ...`, `python -m <package>.worker`) or a 503 JSON answer (the API)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from redis import Redis
from rq import Queue

from lab.support.config import get_settings
from lab.support.servers.processes import free_port
from solutions import tasks

SECRET = "s3cret-Pa55"
#: ACL users belong to the whole server, which test sessions share (xdist's workers, a check
#: cell): each fixture makes a user of its own, named with this and its test database.
USER = "workbook-secret-test"


def forms(host_port: str, db: str = "0", user: str = "") -> dict[str, str]:
    """REDIS_URL with the password SECRET in each form redis-py reads."""
    return {
        "userinfo": f"redis://{user}:{SECRET}@{host_port}/{db}",
        "query": f"redis://{host_port}/{db}?password={SECRET}"
        + (f"&username={user}" if user else ""),
        "encoded": f"redis://{user}:{SECRET.replace('-', '%2D')}@{host_port}/{db}",
    }


@pytest.fixture
def secret_user(redis_url: str, redis_conn: Redis) -> Iterator[dict[str, str]]:
    """REDIS_URLs that log in to the tests' Redis as a user whose password is SECRET."""
    parts = urlsplit(redis_url)
    db = parts.path.strip("/")
    user = f"{USER}-{db}"  # no other session deletes it under this one's feet
    redis_conn.acl_setuser(
        user, enabled=True, passwords=[f"+{SECRET}"], keys=["*"], channels=["*"], commands=["+@all"]
    )
    yield forms(parts.netloc, db, user=user)
    redis_conn.acl_deluser(user)


def assert_hidden(text: str) -> None:
    assert SECRET not in text and SECRET.replace("-", "%2D") not in text, text
    assert "Traceback" not in text, text


# --- the command line ----------------------------------------------------------------------


@pytest.mark.parametrize("form", ["userinfo", "query", "encoded"])
@pytest.mark.parametrize("action", ["status", "stop"])
def test_lab_redis_never_prints_the_password(python_m, tmp_path, form, action):
    url = forms(f"127.0.0.1:{free_port()}")[form]  # nothing listens there
    result = python_m(
        "lab", "redis", action, env={"REDIS_URL": url, "REDIS_DATA_DIR": str(tmp_path)}
    )
    assert_hidden(result.stdout + result.stderr)
    assert "***" in result.stdout + result.stderr


@pytest.mark.parametrize("form", ["userinfo", "query"])
def test_lab_redis_status_of_a_running_server_hides_the_password(python_m, secret_user, form):
    result = python_m("lab", "redis", "status", env={"REDIS_URL": secret_user[form]})
    assert result.returncode == 0, result.stderr
    assert "Redis is running at" in result.stdout
    assert_hidden(result.stdout + result.stderr)


@pytest.mark.parametrize("form", ["userinfo", "query"])
def test_a_worker_logs_in_and_runs_a_job_without_printing_the_password(
    python_m, secret_user, redis_conn, form
):
    job = Queue("default", connection=redis_conn).enqueue(tasks.send_fake_email, "a@example.com", 0)
    result = python_m("solutions.worker", "--burst", env={"REDIS_URL": secret_user[form]})
    assert result.returncode == 0, result.stderr
    assert job.get_status(refresh=True) == "finished"
    assert "listening on default (1 queued) at redis://" in result.stdout
    assert_hidden(result.stdout + result.stderr)


@pytest.mark.parametrize("form", ["userinfo", "query"])
def test_a_worker_that_cannot_reach_redis_hides_the_password(python_m, form):
    url = forms(f"127.0.0.1:{free_port()}")[form]
    result = python_m("solutions.worker", "--burst", env={"REDIS_URL": url})
    assert result.returncode == 1
    assert result.stderr.startswith("Cannot reach Redis at")
    assert_hidden(result.stdout + result.stderr)


BAD_URLS = {
    "unknown-option": ("redis://:{s}@127.0.0.1:6379/0?colour=blue", "unknown option 'colour'"),
    "scheme": ("http://:{s}@127.0.0.1:6379/0", "schemes (redis://, rediss://, unix://)"),
    "port": ("redis://:{s}@127.0.0.1:port/0", "Port could not be cast to integer"),
    "db": ("redis://:{s}@127.0.0.1:6379/0?db=first", "Invalid value for 'db'"),
}


@pytest.mark.parametrize(("url", "named"), BAD_URLS.values(), ids=BAD_URLS.keys())
@pytest.mark.parametrize(
    "command",
    [("lab", "redis", "status"), ("lab", "redis", "start"), ("solutions.worker", "--burst")],
    ids=["redis-status", "redis-start", "worker"],
)
def test_a_bad_redis_url_is_one_line_that_names_the_problem(
    python_m, tmp_path, command, url, named
):
    env = {"REDIS_URL": url.format(s=SECRET), "REDIS_DATA_DIR": str(tmp_path)}
    result = python_m(*command, env=env)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "is not a usable Redis URL" in lines[0] and named in lines[0]
    assert_hidden(result.stderr)


# --- the API -------------------------------------------------------------------------------


@pytest.fixture
def producer(redis_conn: Redis, dashboard_on: tuple[str, str]) -> Iterator[TestClient]:
    """The reference producer, which makes its queue from REDIS_URL on its first request."""
    from solutions.producer import app

    app.state.queue = None
    with TestClient(app) as client:
        client.auth = dashboard_on  # the dashboard's pages too answer 503
        yield client
    app.state.queue = None


REQUESTS = [
    ("POST", "/emails", {"email": "a@example.com"}, {}),
    ("POST", "/emails", {"email": "a@example.com"}, {"Idempotency-Key": "k"}),
    ("GET", "/send-email/a@example.com", None, {}),
    ("GET", "/jobs/some-job", None, {}),
    ("GET", "/failures", None, {}),
    ("GET", "/health", None, {}),
    ("GET", "/dashboard/queues", None, {}),  # a 503 page
    ("GET", "/dashboard/queues/json", None, {}),
]


@pytest.mark.parametrize(("url", "named"), BAD_URLS.values(), ids=BAD_URLS.keys())
def test_with_a_bad_redis_url_the_api_answers_503_json_naming_it(producer, monkeypatch, url, named):
    monkeypatch.setenv("REDIS_URL", url.format(s=SECRET))
    get_settings.cache_clear()
    for method, path, body, headers in REQUESTS:
        response = producer.request(method, path, json=body, headers=headers)
        assert response.status_code == 503, (path, response.text)
        assert "is not a usable Redis URL" in response.text and named in response.text
        assert_hidden(response.text)


@pytest.mark.parametrize("form", ["userinfo", "query", "encoded"])
def test_with_redis_down_the_503_hides_the_password(producer, monkeypatch, form):
    monkeypatch.setenv("REDIS_URL", forms(f"127.0.0.1:{free_port()}")[form])
    get_settings.cache_clear()
    for method, path, body, headers in REQUESTS:
        response = producer.request(method, path, json=body, headers=headers)
        assert response.status_code == 503, (path, response.text)
        assert_hidden(response.text)

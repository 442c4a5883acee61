"""Step 02: lab/producer.py - the FastAPI app that enqueues, against a real Redis."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from rq import Queue
from rq.job import Job

from lab.support.api import QUEUED_MESSAGE


def test_get_send_email_answers_like_the_original_tutorial(client, queue, impl):
    """trigger_email() queues send_fake_email(email) and answers 200 with the job's id.

    GET /send-email/{email} answers {"message": QUEUED_MESSAGE, "job_id": job.id}, as in the
    original tutorial."""
    response = client.get("/send-email/user@example.com")
    assert response.status_code == 200, f"answered {response.status_code}: {response.text[:300]}"
    body = response.json()
    assert set(body) == {"message", "job_id"}, f"the answer is {body}"
    assert body["message"] == QUEUED_MESSAGE
    job = Job.fetch(body["job_id"], connection=queue.connection)
    assert job.func_name == f"{impl}.tasks.send_fake_email", (
        f"the job runs {job.func_name!r}: pass the function itself to queue.enqueue(), not a call"
    )
    assert job.args[0] == "user@example.com", f"the job's arguments are {job.args}"
    assert queue.job_ids == [body["job_id"]], (
        f"the queue holds {queue.job_ids}, not the one job {body['job_id']}"
    )


def test_post_emails_queues_the_address_and_delay(client, queue, impl):
    """create_email() queues send_fake_email(email, delay) and answers 202 with the job's id.

    POST /emails answers {"message": QUEUED_MESSAGE, "job_id": job.id}."""
    response = client.post("/emails", json={"email": "user@example.com", "delay": 0.5})
    assert response.status_code == 202, f"answered {response.status_code}: {response.text[:300]}"
    body = response.json()
    assert body["message"] == QUEUED_MESSAGE
    job = Job.fetch(body["job_id"], connection=queue.connection)
    assert job.func_name == f"{impl}.tasks.send_fake_email", (
        f"the job runs {job.func_name!r}: pass the function itself to queue.enqueue(), not a call"
    )
    assert tuple(job.args) == ("user@example.com", 0.5), (
        f"the job's arguments are {job.args}, not (body.email, body.delay)"
    )


def test_post_emails_without_delay_uses_the_default(client, queue):
    """create_email() with no delay in the body queues none (or None): EMAIL_DELAY applies."""
    response = client.post("/emails", json={"email": "user@example.com"})
    assert response.status_code == 202, f"answered {response.status_code}: {response.text[:300]}"
    job = Job.fetch(response.json()["job_id"], connection=queue.connection)
    assert job.args[0] == "user@example.com", f"the job's arguments are {job.args}"
    assert (list(job.args[1:]) + [None])[0] is None, (  # no delay, or delay=None
        f"the job's arguments are {job.args}: pass body.delay, which is None when not given"
    )


def test_each_request_is_its_own_job(client, queue):
    """Three requests to trigger_email() queue three jobs, each with its own id."""
    ids = {client.get(f"/send-email/user{i}@example.com").json()["job_id"] for i in range(3)}
    assert len(ids) == 3, f"three requests answered {len(ids)} different job ids: {ids}"
    assert queue.count == 3, f"three requests left {queue.count} jobs on the queue"


def assert_still_queues_one(client: TestClient, queue: Queue) -> None:
    """After a bad request: nothing was queued, and a good request still works."""
    assert queue.count == 0, f"a refused request left {queue.count} jobs on the queue"
    assert client.post("/emails", json={"email": "user@example.com"}).status_code == 202
    assert queue.count == 1, f"a good request after it left {queue.count} jobs, not 1"


@pytest.mark.parametrize(
    "address",
    [
        "not-an-email",
        "user@",
        "@example.com",
        "x" * 250 + "@example.com",
        "a@" + "b" * 300 + ".com",
    ],
    ids=["no-at", "no-domain", "no-local-part", "address-too-long", "domain-too-long"],
)
def test_get_with_a_bad_address_is_422_and_queues_nothing(client, queue, address):
    """trigger_email() with a bad address answers 422 (its `email: EmailStr`) and queues nothing."""
    response = client.get(f"/send-email/{address}")
    assert response.status_code == 422, f"answered {response.status_code}: {response.text[:300]}"
    detail = response.json()["detail"]
    assert detail[0]["loc"] == ["path", "email"]
    assert "email" in detail[0]["msg"]
    assert_still_queues_one(client, queue)


@pytest.mark.parametrize(
    ("content", "where"),
    [
        (None, "body"),
        ("{not json", "body"),
        ('["user@example.com"]', "body"),
        ('{"address": "user@example.com"}', "email"),
        ('{"email": "not-an-email"}', "email"),
        ('{"email": "user@example.com", "delay": -1}', "delay"),
        ('{"email": "user@example.com", "delay": "soon"}', "delay"),
    ],
    ids=["missing", "malformed", "wrong-type", "no-email", "bad-email", "negative", "text"],
)
def test_post_with_a_bad_body_is_422_and_queues_nothing(client, queue, content, where):
    """create_email() with a bad body answers 422 (its `body: EmailRequest`) and queues nothing."""
    headers = {"Content-Type": "application/json"}
    response = client.post("/emails", content=content, headers=headers)
    assert response.status_code == 422, f"answered {response.status_code}: {response.text[:300]}"
    assert response.headers["content-type"] == "application/json"
    assert where in str(response.json()["detail"])
    assert_still_queues_one(client, queue)


def test_health_reports_redis(client, queue):
    """GET /health reports Redis ok, and the queue 'default' holding the one job queued."""
    client.get("/send-email/user@example.com")
    response = client.get("/health")
    assert response.status_code == 200, f"answered {response.status_code}: {response.text[:300]}"
    expected = {"status": "ok", "redis": "ok", "queue": "default", "queued": 1}
    assert response.json() == expected, f"GET /health answered {response.json()}"


@pytest.fixture(params=["down", "hanging"])
def unreachable_client(request, api_client, closed_port, silent_port):
    port = closed_port if request.param == "down" else silent_port
    return api_client(f"redis://127.0.0.1:{port}/0")


@pytest.mark.parametrize(
    ("method", "path", "json"),
    [
        ("GET", "/send-email/user@example.com", None),
        ("POST", "/emails", {"email": "user@example.com"}),
        ("GET", "/health", None),
    ],
    ids=["get", "post", "health"],
)
def test_redis_unreachable_is_503_within_two_seconds(unreachable_client, method, path, json):
    """With Redis down or hanging, each endpoint answers 503 within 2 s (get_redis()'s timeouts)."""
    start = time.monotonic()
    response = unreachable_client.request(method, path, json=json)
    took = time.monotonic() - start
    assert took < 2, f"answered after {took:.1f} s: set get_redis()'s two socket timeouts"
    assert response.status_code == 503, f"answered {response.status_code}: {response.text[:300]}"
    body = response.json()
    assert "redis" in str(body).lower()
    if path != "/health":
        assert "python -m lab redis start" in body["detail"]

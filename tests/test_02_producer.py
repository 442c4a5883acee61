"""Step 02: lab/producer.py - the FastAPI app that enqueues, against a real Redis."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from rq import Queue
from rq.job import Job

from lab.support.api import QUEUED_MESSAGE


def test_get_send_email_answers_like_the_original_tutorial(client, queue, impl):
    response = client.get("/send-email/user@example.com")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"message", "job_id"}
    assert body["message"] == QUEUED_MESSAGE
    job = Job.fetch(body["job_id"], connection=queue.connection)
    assert job.func_name == f"{impl}.tasks.send_fake_email"
    assert job.args[0] == "user@example.com"
    assert queue.job_ids == [body["job_id"]]


def test_post_emails_queues_the_address_and_delay(client, queue, impl):
    response = client.post("/emails", json={"email": "user@example.com", "delay": 0.5})
    assert response.status_code == 202
    body = response.json()
    assert body["message"] == QUEUED_MESSAGE
    job = Job.fetch(body["job_id"], connection=queue.connection)
    assert job.func_name == f"{impl}.tasks.send_fake_email"
    assert tuple(job.args) == ("user@example.com", 0.5)


def test_post_emails_without_delay_uses_the_default(client, queue):
    response = client.post("/emails", json={"email": "user@example.com"})
    assert response.status_code == 202
    job = Job.fetch(response.json()["job_id"], connection=queue.connection)
    assert job.args[0] == "user@example.com"
    assert (list(job.args[1:]) + [None])[0] is None  # no delay, or delay=None


def test_each_request_is_its_own_job(client, queue):
    ids = {client.get(f"/send-email/user{i}@example.com").json()["job_id"] for i in range(3)}
    assert len(ids) == 3
    assert queue.count == 3


def assert_still_queues_one(client: TestClient, queue: Queue) -> None:
    """After a bad request: nothing was queued, and a good request still works."""
    assert queue.count == 0
    assert client.post("/emails", json={"email": "user@example.com"}).status_code == 202
    assert queue.count == 1


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
    response = client.get(f"/send-email/{address}")
    assert response.status_code == 422
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
    headers = {"Content-Type": "application/json"}
    response = client.post("/emails", content=content, headers=headers)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/json"
    assert where in str(response.json()["detail"])
    assert_still_queues_one(client, queue)


def test_health_reports_redis(client, queue):
    client.get("/send-email/user@example.com")
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "redis": "ok", "queue": "default", "queued": 1}


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
    start = time.monotonic()
    response = unreachable_client.request(method, path, json=json)
    assert time.monotonic() - start < 2
    assert response.status_code == 503
    body = response.json()
    assert "redis" in str(body).lower()
    if path != "/health":
        assert "python -m lab redis start" in body["detail"]

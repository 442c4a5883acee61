"""The provided Idempotency-Key middleware (lab/support/api/idempotency.py) when Redis goes away
between the endpoint and the storing of its answer: it tries again after the answer was
sent, so a short outage leaves no claim without an answer; a longer one is given up within
half of IDEMPOTENCY_CLAIM_TTL; and a repeat that meets a claim is told when to try again.

A private Redis server (started here on a free port, with a data folder of its own) is
stopped by the endpoint's queue right after it queued the job: the moment an outage would
have to hit. The reference producer runs in this process, on that server. And a request
slower than its claim's TTL is logged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from redis import Redis
from rq import Queue

from lab.support.api import EmailQueue, create_app
from lab.support.api.deps import email_queue
from lab.support.config import get_settings
from lab.support.course.helpers import unexpected
from lab.support.servers.redis_server import PrivateServer
from solutions.connection import get_queue
from solutions.failures import IDEMPOTENCY_PREFIX, claim_key, remember_answer

BODY = {"email": "user@example.com", "delay": 0}


@pytest.fixture
def private_url(private_redis: PrivateServer) -> str:
    """The URL of a Redis server of this test's own (never the shared test server)."""
    return private_redis.url


def outage_after_enqueue(
    server: PrivateServer, seconds: float | None, kill: bool = False
) -> type[Queue]:
    """A queue class whose enqueue() stops `server` once the job is queued (with
    SIGTERM, which takes a second or two, or SIGKILL: at once), and starts it again
    `seconds` later (None: not until the test does)."""

    class Outage(Queue):
        down_since = 0.0

        def enqueue(self, *args, **kwargs):
            job = super().enqueue(*args, **kwargs)
            if kill:
                server.kill()
            else:  # SIGTERM: the append-only file keeps the job and the claim
                server.stop()
            Outage.down_since = time.monotonic()  # when the answer can no longer be stored
            if seconds is not None:
                threading.Timer(seconds, server.start).start()
            return job

    return Outage


@pytest.fixture
def app_on(reference_app):
    """app_on(url, queue_class): the reference producer, its queue of `queue_class` on the
    Redis at `url`."""

    def make(url: str, queue_class: type[Queue] = Queue) -> TestClient:
        connection = Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        queue = queue_class("default", connection=connection)
        reference_app.dependency_overrides[email_queue] = lambda: queue
        return TestClient(reference_app)

    return make


def test_an_answer_lost_to_a_short_outage_is_stored_once_redis_is_back(
    private_redis, private_url, app_on
):
    """Redis stops between the enqueue and the storing of the answer, for 1.5 s: the
    middleware stores it once Redis is back, and a repeat replays it (no 409, no second job)."""
    client = app_on(private_url, outage_after_enqueue(private_redis, 1.5))
    first = client.post("/emails", json=BODY, headers={"Idempotency-Key": "short"})
    assert first.status_code == 202, unexpected(first, 202)
    redis = Redis.from_url(private_url)
    stored = json.loads(redis.get(IDEMPOTENCY_PREFIX + "short") or "{}")
    assert stored.get("status") == 202, f"after the outage the key holds {stored}"
    assert redis.ttl(IDEMPOTENCY_PREFIX + "short") > 86000  # the answer's TTL, a day
    app_on(private_url)  # the same server, without the outage
    again = client.post("/emails", json=BODY, headers={"Idempotency-Key": "short"})
    assert again.status_code == 202, unexpected(again, 202)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["job_id"] == first.json()["job_id"]
    assert Queue("default", connection=redis).job_ids == [first.json()["job_id"]]


def test_a_longer_outage_is_given_up_within_half_the_claim_ttl(
    private_redis, private_url, app_on, monkeypatch, caplog
):
    """Redis stays down: the middleware stops trying after half of IDEMPOTENCY_CLAIM_TTL
    (4 s here, so 2 s after the claim), says so in one line, and the claim keeps its TTL
    (if it was written to disk before the kill)."""
    monkeypatch.setenv("IDEMPOTENCY_CLAIM_TTL", "4")
    get_settings.cache_clear()
    outage = outage_after_enqueue(private_redis, None, kill=True)
    client = app_on(private_url, outage)
    started = time.monotonic()  # just before the claim
    with caplog.at_level(logging.WARNING, logger="lab.support.api.idempotency"):
        first = client.post("/emails", json=BODY, headers={"Idempotency-Key": "long"})
    took = time.monotonic() - started
    assert first.status_code == 202, unexpected(first, 202)
    assert outage.down_since - started < 1, "killing Redis took too long for this test"
    assert 1.5 < took < 2 + 1.2, f"the request's task took {took:.1f} s, not 2 s after the claim"
    said = [record.getMessage() for record in caplog.records]
    assert len(said) == 1 and "could not be stored" in said[0], said
    assert "IDEMPOTENCY_CLAIM_TTL=4" in said[0] and "\n" not in said[0]
    private_redis.start()
    ttl = Redis.from_url(private_url).ttl(IDEMPOTENCY_PREFIX + "long")
    assert ttl in (-2, 1, 2, 3, 4), f"the unanswered claim has TTL {ttl} (-1: never expires)"


def test_a_claimed_key_is_409_with_when_to_try_again(reference_api, redis_conn):
    """A repeat that meets a claim without an answer: 409, Retry-After, and a detail that
    says when the key is free again."""
    body = json.dumps(BODY).encode()
    fingerprint = f"/emails {hashlib.sha256(body).hexdigest()}"
    assert claim_key(redis_conn, "busy", fingerprint) is None
    headers = {"Idempotency-Key": "busy", "Content-Type": "application/json"}
    answer = reference_api.post("/emails", content=body, headers=headers)
    assert answer.status_code == 409, unexpected(answer, 409)
    assert answer.headers["Retry-After"] == "1"
    detail = answer.json()["detail"]
    assert "try again in 1 s" in detail and "IDEMPOTENCY_CLAIM_TTL=30" in detail, detail


def test_a_request_slower_than_the_claim_ttl_is_logged(redis_conn, monkeypatch, caplog):
    """A keyed request that outlives its claim (IDEMPOTENCY_CLAIM_TTL=1 s here, a 1.2 s
    endpoint) is logged in one line: a repeat meanwhile may have run it again."""
    monkeypatch.setenv("IDEMPOTENCY_CLAIM_TTL", "1")
    get_settings.cache_clear()
    router = APIRouter()

    @router.post("/slow")
    def slow(queue: EmailQueue) -> dict:
        time.sleep(1.2)
        return {"ok": True}

    app = create_app("slow", get_queue, routers=[router], idempotency=(claim_key, remember_answer))
    with caplog.at_level(logging.WARNING, logger="lab.support.api.idempotency"):
        answer = TestClient(app).post("/slow", headers={"Idempotency-Key": "slow-1"})
    assert answer.status_code == 200, unexpected(answer, 200)
    said = [record.getMessage() for record in caplog.records]
    assert len(said) == 1 and "more than IDEMPOTENCY_CLAIM_TTL=1 s" in said[0], said

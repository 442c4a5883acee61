"""Step 04: lab/strategies.py - four ways to send the email, in-process and in a real
uvicorn process (concurrency needs a real server: the test client runs one request at a
time)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from rq.job import Job

from lab.support.experiments.bench import burst
from lab.support.servers.processes import Api, poll, start_api

QUEUE = "t04-emails"
EMAIL = {"email": "user@example.com", "delay": 0.2}


@pytest.fixture
def client(strategies, api_client, redis_conn) -> TestClient:
    """Step 04's app in process, its queue (and the mounted producer's) on the test database."""
    return api_client(app=strategies.app)


#: The tests that use `server`, on one xdist worker: one uvicorn start, not one per worker.
one_server = pytest.mark.xdist_group("step-04-server")


@pytest.fixture(scope="module")
def server(impl, redis_url) -> Iterator[Api]:
    """`uvicorn <impl>.strategies:app`, shared by this file's tests."""
    with start_api(impl, module="strategies", env={"QUEUE_NAME": QUEUE}) as api:
        yield api


@pytest.mark.parametrize("path", ["/blocking/async", "/blocking/def"])
def test_blocking_endpoints_answer_after_the_email(client, receipt, path):
    """send_blocking_async() and send_blocking_def() send the email, then answer its receipt.

    The answer, after the email's delay, is 200 {"message": <receipt>}."""
    start = time.monotonic()
    response = client.post(path, json=EMAIL)
    assert response.status_code == 200, f"answered {response.status_code}: {response.text[:300]}"
    assert response.json() == {"message": receipt()}, f"{path} answered {response.json()}"
    took = time.monotonic() - start
    assert took >= 0.2, f"answered after {took:.2f} s, before the 0.2 s email was sent"


def test_bad_input_is_422_and_sends_nothing(client):
    """Each endpoint of step 04 answers 422 for a bad address (its `body: EmailRequest`)."""
    for path in ["/blocking/async", "/blocking/def", "/background"]:
        response = client.post(path, json={"email": "not-an-address", "delay": 0})
        assert response.status_code == 422, path
        assert response.json()["detail"][0]["loc"] == ["body", "email"]
    assert client.post("/blocking/def", json={**EMAIL, "delay": 0}).status_code == 200


def test_queued_emails_is_the_producer_mounted(client, queue, impl):
    """POST /queued/emails is step 02's create_email(), mounted: it queues send_fake_email."""
    response = client.post("/queued/emails", json=EMAIL)
    assert response.status_code == 202, f"answered {response.status_code}: {response.text[:300]}"
    job = Job.fetch(response.json()["job_id"], connection=queue.connection)
    assert job.func_name == f"{impl}.tasks.send_fake_email", f"the job runs {job.func_name!r}"
    assert tuple(job.args) == ("user@example.com", 0.2), f"the job's arguments are {job.args}"
    assert queue.job_ids == [job.id], f"the queue holds {queue.job_ids}, not the one job {job.id}"


def test_queued_emails_answers_503_when_redis_is_down(strategies, api_client, closed_port):
    """POST /queued/emails answers 503 saying `python -m lab redis start` when Redis is down."""
    down = api_client(f"redis://127.0.0.1:{closed_port}/0", app=strategies.app)
    response = down.post("/queued/emails", json=EMAIL)
    assert response.status_code == 503, f"answered {response.status_code}: {response.text[:300]}"
    assert "python -m lab redis start" in response.json()["detail"]


@one_server
def test_background_answers_first_and_notes_when_the_email_is_done(server, strategies, redis_conn):
    """send_in_background() answers 202 with a task_id before its 1.5 s email is sent; the
    email is sent after that.

    background_tasks runs send_and_record() after the answer, which notes the email done.
    The email is long and the bound loose (1 s) so that a busy machine does not fail it."""
    with httpx.Client(base_url=server.url, timeout=10) as client:
        client.get("/health")  # the connection is open before the clock starts
        start = time.time()
        response = client.post("/background", json={**EMAIL, "delay": 1.5})
        answered = time.time()
    assert response.status_code == 202, (
        f"answered {response.status_code}: {response.text[:300]}\n{server.output()[-2000:]}"
    )
    body = response.json()
    assert body["message"] == strategies.SCHEDULED_MESSAGE
    key = f"{strategies.DONE_PREFIX}{body['task_id']}"
    assert answered - start < 1.0, (
        f"answered after {answered - start:.2f} s, not at once: add the 1.5 s email to"
        " background_tasks instead of sending it"
    )
    assert redis_conn.get(key) is None, "the email was done before the answer"  # it takes 1.5 s
    done = float(poll(lambda: redis_conn.get(key), bool, "the email's done note", 10)[-1])
    assert done >= start + 1.5, f"noted done {done - start:.2f} s after the request, not 1.5 s"


@one_server
@pytest.mark.parametrize(
    ("path", "health_waits"), [("/blocking/async", True), ("/blocking/def", False)]
)
def test_only_async_blocking_stalls_health(server, redis_conn, path, health_waits):
    """While a 0.6 s email is sent, GET /health waits with `async def` and not with `def`.

    In send_blocking_async() the event loop itself sleeps; in send_blocking_def() a thread of
    the pool does."""
    answers: dict[str, httpx.Response] = {}

    def send() -> None:
        answers["email"] = httpx.post(
            f"{server.url}{path}", json={**EMAIL, "delay": 0.6}, timeout=5
        )

    sender = threading.Thread(target=send)
    sender.start()
    time.sleep(0.15)
    start = time.monotonic()
    health = httpx.get(f"{server.url}/health", timeout=5)
    waited = time.monotonic() - start
    sender.join()
    assert answers["email"].status_code == 200, server.output()[-2000:]
    assert health.json() == {"status": "ok"}
    # Waiting: /health answered once the email was sent, 0.45 s on. Not waiting: it answered
    # before the email's answer (a busy machine may slow it, not put it after the email).
    email_took = answers["email"].elapsed.total_seconds()
    stalled = waited > 0.3 if health_waits else waited + 0.15 >= email_took
    assert stalled is health_waits, f"/health answered after {waited:.2f} s, " + (
        "not after the email: send it in the `async def` itself, on the event loop"
        if health_waits
        else "not at once: send it in the `def` endpoint, which FastAPI runs in a thread"
    )


@one_server
@pytest.mark.parametrize(("path", "serial"), [("/blocking/async", True), ("/blocking/def", False)])
def test_three_at_once_are_served_one_by_one_only_by_async_def(server, redis_conn, path, serial):
    """Three 0.3 s emails at once take 3 x 0.3 s with the `async def` endpoint, 0.3 s with `def`.

    send_blocking_async() runs on the event loop, one at a time; send_blocking_def() in threads."""
    requests = burst(server.url, path, 3, delay=0.3)
    assert [r.status for r in requests] == [200, 200, 200], server.output()[-2000:]
    slowest = max(r.end - r.start for r in requests)
    if serial:
        assert slowest >= 0.9, f"the third answer came after {slowest:.2f} s, not 3 x 0.3 s"
    else:
        assert slowest < 0.6, f"the slowest answer came after {slowest:.2f} s, not ~0.3 s"


def test_each_background_request_gets_its_own_uuid(client):
    """send_in_background() gives every request a task_id of its own, str(uuid.uuid4())."""
    body = {"email": "user@example.com", "delay": 0}
    ids = [client.post("/background", json=body).json()["task_id"] for _ in range(2)]
    assert ids[0] != ids[1], (
        f"two POST /background answered the same task_id {ids[0]!r}: use str(uuid.uuid4())"
    )
    for task_id in ids:
        assert re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", task_id), (
            f"task_id {task_id!r} is not a UUID: use str(uuid.uuid4())"
        )


@pytest.mark.parametrize("path", ["/blocking/async", "/blocking/def"])
def test_blocking_endpoints_wait_the_delay_of_the_body(client, path):
    """The blocking endpoints send the email with the body's delay, not the 10 s default."""
    start = time.monotonic()
    response = client.post(path, json={"email": "user@example.com", "delay": 0.2})
    took = time.monotonic() - start
    assert response.status_code == 200, f"POST {path} answered {response.status_code}"
    assert 0.2 <= took < 2, (
        f"POST {path} with delay 0.2 took {took:.1f} s: pass body.email and body.delay"
        " to send_fake_email"
    )

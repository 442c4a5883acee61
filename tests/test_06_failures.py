"""Step 06: failures and retries - lab/tasks.py (send_flaky_email, record_failure),
lab/failures.py (retry, cancel, the Idempotency-Key) and `python -m lab.worker --with-scheduler`.
"""

from __future__ import annotations

import json
import time

import httpx
import pytest
from fastapi.testclient import TestClient
from rq import Callback, Queue, Retry
from rq.registry import FailedJobRegistry

from lab.support.api import email_queue
from lab.support.background import start_api, start_worker
from lab.support.helpers import wait_for_status

ADDRESS = "user@example.com"


# --- send_flaky_email: fails its first attempts, counted in Redis --------------------------


def test_flaky_task_fails_then_succeeds_on_the_attempt_after_its_failures(
    queue, tasks, run_queued_jobs, receipt
):
    job = queue.enqueue(tasks.send_flaky_email, ADDRESS, 2, 0, retry=Retry(max=3))
    run_queued_jobs(queue)  # no interval: each retry goes straight back on the queue
    assert job.get_status(refresh=True) == "finished"
    assert job.return_value() == receipt()
    assert int(queue.connection.get(f"workbook:attempts:{job.id}")) == 3
    job.refresh()
    assert job.retries_left == 1  # two of its three retries were used


def test_flaky_task_without_enough_retries_fails_with_the_reason(
    client, queue, tasks, run_queued_jobs
):
    job = queue.enqueue(tasks.send_flaky_email, ADDRESS, 2, 0, retry=Retry(max=1))
    run_queued_jobs(queue)
    state = client.get(f"/jobs/{job.id}").json()
    assert state["status"] == "failed"
    assert state["retries_left"] == 0
    assert state["error"].startswith("ConnectionError: mail server did not answer (attempt 2")
    assert job.id in FailedJobRegistry(queue=queue)


def test_flaky_task_outside_a_job_says_to_enqueue_it(tasks):
    with pytest.raises(RuntimeError, match="enqueue"):
        tasks.send_flaky_email(ADDRESS, 1)


# --- POST /jobs/{id}/retry and /cancel --------------------------------------------------------


def test_retry_puts_a_failed_job_back_until_it_succeeds(
    client, queue, tasks, run_queued_jobs, receipt
):
    job = queue.enqueue(tasks.send_flaky_email, ADDRESS, 2, 0)
    run_queued_jobs(queue)
    for _ in range(2):  # attempts 2 and 3
        response = client.post(f"/jobs/{job.id}/retry")
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "queued"
        assert job.id not in FailedJobRegistry(queue=queue)
        run_queued_jobs(queue)
    assert client.get(f"/jobs/{job.id}").json()["result"] == receipt()
    assert int(queue.connection.get(f"workbook:attempts:{job.id}")) == 3


def test_retry_of_a_job_that_did_not_fail_is_409(client, queue, tasks, run_queued_jobs):
    job = queue.enqueue(tasks.send_fake_email, ADDRESS, 0)
    response = client.post(f"/jobs/{job.id}/retry")
    assert response.status_code == 409
    assert "queued" in response.json()["detail"]
    run_queued_jobs(queue)
    response = client.post(f"/jobs/{job.id}/retry")
    assert response.status_code == 409
    assert "finished" in response.json()["detail"]
    assert queue.count == 0


def test_cancel_a_queued_job_and_the_worker_never_runs_it(client, queue, tasks, run_queued_jobs):
    job = queue.enqueue(tasks.send_fake_email, ADDRESS, 0)
    response = client.post(f"/jobs/{job.id}/cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "canceled"
    run_queued_jobs(queue)
    assert job.get_status(refresh=True) == "canceled"
    assert job.started_at is None


def test_cancel_a_scheduled_job(client, queue, tasks, run_queued_jobs):
    job = queue.enqueue(tasks.send_flaky_email, ADDRESS, 1, 0, retry=Retry(max=1, interval=60))
    run_queued_jobs(queue)
    assert client.get(f"/jobs/{job.id}").json()["status"] == "scheduled"
    assert client.post(f"/jobs/{job.id}/cancel").json()["status"] == "canceled"


def test_cancel_of_a_job_that_ended_is_409(client, queue, tasks, run_queued_jobs):
    done = queue.enqueue(tasks.send_fake_email, ADDRESS, 0)
    run_queued_jobs(queue)
    response = client.post(f"/jobs/{done.id}/cancel")
    assert response.status_code == 409
    assert "finished" in response.json()["detail"]
    assert client.post(f"/jobs/{done.id}/cancel").status_code == 409
    assert client.get(f"/jobs/{done.id}").json()["status"] == "finished"


def test_retry_and_cancel_of_unknown_or_malformed_ids(client):
    for action in ("retry", "cancel"):
        assert client.post(f"/jobs/{'0' * 32}/{action}").status_code == 404
        assert client.post(f"/jobs/not%20an%20id/{action}").status_code in (404, 422)


# --- the on_failure callback and GET /failures -----------------------------------------------


def test_record_failure_runs_on_every_failed_attempt(client, queue, tasks, impl, run_queued_jobs):
    job = queue.enqueue(
        tasks.send_flaky_email,
        ADDRESS,
        2,
        0,
        retry=Retry(max=2),
        on_failure=Callback(tasks.record_failure),
    )
    bad = queue.enqueue(
        tasks.send_newsletter, ["bob"], 0, on_failure=Callback(tasks.record_failure)
    )
    run_queued_jobs(queue)
    assert job.get_status(refresh=True) == "finished"  # the third attempt succeeded
    failures = client.get("/failures").json()
    # Newest first: attempt 1 failed and was queued again behind `bad`, which failed next.
    assert [f["job_id"] for f in failures] == [job.id, bad.id, job.id]
    assert failures[1]["error"] == "ValueError: not an email address: 'bob'"
    assert failures[1]["task"] == f"{impl}.tasks.send_newsletter"
    assert "attempt 2" in failures[0]["error"] and "attempt 1" in failures[2]["error"]
    assert client.get("/failures", params={"limit": 1}).json() == failures[:1]
    assert client.get("/failures", params={"limit": 0}).status_code == 422


def test_record_failure_keeps_only_the_latest(tasks, redis_conn, queue):
    job = queue.enqueue(tasks.send_fake_email, ADDRESS, 0)
    for i in range(tasks.FAILURES_KEPT + 5):
        tasks.record_failure(job, redis_conn, ValueError, ValueError(f"no {i}"), None)
    entries = [json.loads(e) for e in redis_conn.lrange(tasks.FAILURES_KEY, 0, -1)]
    assert len(entries) == tasks.FAILURES_KEPT
    assert entries[0]["error"] == f"ValueError: no {tasks.FAILURES_KEPT + 4}"
    assert entries[0]["at"].endswith("+00:00")


# --- Idempotency-Key ----------------------------------------------------------------------


def post(client: TestClient, key: str | None, body: dict | None = None) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key is not None else {}
    return client.post("/emails", json=body or {"email": ADDRESS, "delay": 0}, headers=headers)


def test_the_same_key_twice_makes_one_job(client, queue):
    first = post(client, "order-42")
    again = post(client, "order-42")
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert queue.job_ids == [first.json()["job_id"]]


def test_different_keys_or_no_key_make_new_jobs(client, queue):
    ids = {post(client, key).json()["job_id"] for key in ("a", "b", None, None)}
    assert len(ids) == 4
    assert queue.count == 4


def test_the_same_key_with_another_request_is_422(client, queue):
    post(client, "k1")
    response = post(client, "k1", {"email": "other@example.com"})
    assert response.status_code == 422
    assert "different request" in response.json()["detail"]
    assert queue.count == 1


def test_a_refused_request_does_not_use_up_its_key(client, queue):
    assert post(client, "k2", {"email": "not-an-email"}).status_code == 422
    assert post(client, "k2").status_code == 202
    assert queue.count == 1


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there"], ids=["empty", "long", "control"])
def test_a_bad_key_is_422(client, queue, key):
    response = post(client, key)
    assert response.status_code == 422
    assert "Idempotency-Key" in response.json()["detail"]
    assert queue.count == 0
    assert post(client, "a-good-key").status_code == 202  # and a good one works
    assert queue.count == 1


def test_a_crashing_request_does_not_use_up_its_key(client, queue):
    class BrokenQueue(Queue):
        def enqueue(self, *args, **kwargs):
            raise RuntimeError("a bug in the endpoint")

    working = client.app.dependency_overrides[email_queue]
    client.app.dependency_overrides[email_queue] = lambda: BrokenQueue(
        queue.name, connection=queue.connection
    )
    with pytest.raises(RuntimeError, match="a bug"):
        post(client, "k6")
    client.app.dependency_overrides[email_queue] = working
    assert post(client, "k6").status_code == 202
    assert queue.count == 1


def test_claim_key_and_remember_answer(failures, redis_conn):
    assert failures.claim_key(redis_conn, "k3", "fp") is None  # the first claim wins
    assert failures.claim_key(redis_conn, "k3", "fp") == {"fingerprint": "fp"}  # in progress
    failures.remember_answer(redis_conn, "k3", "fp", 202, '{"job_id": "x"}')
    stored = failures.claim_key(redis_conn, "k3", "fp")
    assert stored == {"fingerprint": "fp", "status": 202, "body": '{"job_id": "x"}'}
    ttl = redis_conn.ttl(failures.IDEMPOTENCY_PREFIX + "k3")
    assert 86000 < ttl <= 86400  # IDEMPOTENCY_TTL's default, one day
    failures.remember_answer(redis_conn, "k3", "fp", 500, None)  # a failure forgets it
    assert failures.claim_key(redis_conn, "k3", "fp") is None


def test_a_key_still_in_progress_is_409(client, failures, redis_conn, queue):
    first = post(client, "k4")
    # Make the stored record look like a request still being handled.
    key = failures.IDEMPOTENCY_PREFIX + "k4"
    record = json.loads(redis_conn.get(key))
    redis_conn.set(key, json.dumps({"fingerprint": record["fingerprint"]}))
    response = post(client, "k4")
    assert response.status_code == 409
    assert "still being handled" in response.json()["detail"]
    assert queue.job_ids == [first.json()["job_id"]]


def test_with_redis_down_a_keyed_post_is_503_json(api_client, closed_port):
    response = post(api_client(f"redis://127.0.0.1:{closed_port}/0"), "k5")
    assert response.status_code == 503
    assert "python -m lab redis start" in response.json()["detail"]


# --- real worker processes: timeouts, and retry intervals need the scheduler ---------------


@pytest.mark.parametrize("simple", [False, True], ids=["Worker", "SimpleWorker"])
def test_a_job_past_its_timeout_fails_with_the_reason(impl, tasks, queue, simple):
    job = queue.enqueue(tasks.send_fake_email, ADDRESS, 5, job_timeout=1)
    args = ["--burst", "--simple"] if simple else ["--burst"]
    started = time.monotonic()
    with start_worker(*args, package=impl) as process:
        assert process.wait(30) == 0
    assert time.monotonic() - started < 4.5, "the job ran on past its timeout"
    assert job.get_status(refresh=True) == "failed"
    error = job.latest_result().exc_string
    assert "JobTimeoutException" in error and "(1 seconds)" in error


def test_retry_intervals_wait_for_a_worker_with_the_scheduler(impl, tasks, queue, receipt):
    job = queue.enqueue(tasks.send_flaky_email, ADDRESS, 1, 0, retry=Retry(max=1, interval=1))
    with start_worker(package=impl):
        wait_for_status(job, "scheduled")
        time.sleep(2)  # its retry time passes, and no scheduler moves it
        assert job.get_status(refresh=True) == "scheduled"
    with start_worker("--with-scheduler", package=impl):
        wait_for_status(job, "finished")
    assert job.return_value() == receipt()


def test_end_to_end_idempotent_posts_over_http(impl, queue):
    with start_api(package=impl) as api, httpx.Client(base_url=api.url, timeout=5) as http:
        headers = {"Idempotency-Key": "signup-7"}
        body = {"email": ADDRESS, "delay": 0}
        answers = [http.post("/emails", json=body, headers=headers) for _ in range(3)]
    assert len({a.json()["job_id"] for a in answers}) == 1
    assert [a.status_code for a in answers] == [202, 202, 202]
    assert queue.count == 1

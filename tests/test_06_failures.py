"""Step 06: failures and retries - lab/tasks.py (send_flaky_email, record_failure),
lab/failures.py (retry, cancel, the Idempotency-Key) and `python -m lab.worker --with-scheduler`.
"""

from __future__ import annotations

import hashlib
import json
import time

import httpx
import pytest
from fastapi.testclient import TestClient
from rq import Callback, Queue, Retry
from rq.job import JobStatus
from rq.registry import FailedJobRegistry

from lab.support.api.deps import email_queue
from lab.support.config import environment, get_settings
from lab.support.queueing.jobs import job_outcome, wait_for_status
from lab.support.servers.processes import last_line, poll, start_api, start_worker

ADDRESS = "user@example.com"


# --- send_flaky_email: fails its first attempts, counted in Redis --------------------------


def test_flaky_task_fails_then_succeeds_on_the_attempt_after_its_failures(
    queue, tasks, run_queued_jobs, receipt
):
    """send_flaky_email(address, 2) fails twice, then succeeds, counting attempts with INCR.

    The count is kept in Redis under workbook:attempts:<job id>."""
    job = queue.enqueue(tasks.send_flaky_email, ADDRESS, 2, 0, retry=Retry(max=3))
    run_queued_jobs(queue)  # no interval: each retry goes straight back on the queue
    assert job.get_status(refresh=True) == "finished", f"with 3 retries it ended {job_outcome(job)}"
    assert job.return_value() == receipt()
    attempts = queue.connection.get(f"workbook:attempts:{job.id}")
    assert int(attempts or 0) == 3, f"workbook:attempts:<job id> holds {attempts}, not 3"
    job.refresh()
    assert job.retries_left == 1, (  # two of its three retries were used
        f"retries_left is {job.retries_left}, not 1: fail attempts 1 and 2 only"
    )


def test_flaky_task_without_enough_retries_fails_with_the_reason(
    client, queue, tasks, run_queued_jobs
):
    """send_flaky_email(address, 2) with 1 retry fails, its error naming the attempt.

    The error starts "ConnectionError: mail server did not answer (attempt 2"."""
    job = queue.enqueue(tasks.send_flaky_email, ADDRESS, 2, 0, retry=Retry(max=1))
    run_queued_jobs(queue)
    state = client.get(f"/jobs/{job.id}").json()
    assert state["status"] == "failed", f"with 1 retry it ended {state['status']!r}"
    assert state["retries_left"] == 0, f"retries_left is {state['retries_left']}"
    assert (state["error"] or "").startswith(
        "ConnectionError: mail server did not answer (attempt 2"
    ), f"the error is {state['error']!r}"
    assert job.id in FailedJobRegistry(queue=queue), "the job is not in FailedJobRegistry"


def test_flaky_task_outside_a_job_says_to_enqueue_it(tasks):
    """send_flaky_email() called outside a job raises RuntimeError saying to enqueue it."""
    with pytest.raises(RuntimeError, match="enqueue"):
        tasks.send_flaky_email(ADDRESS, 1)


# --- POST /jobs/{id}/retry and /cancel --------------------------------------------------------


def test_retry_puts_a_failed_job_back_until_it_succeeds(
    client, queue, tasks, run_queued_jobs, receipt
):
    """retry_job() (POST /jobs/{id}/retry) puts a failed job back on its queue: job.requeue()."""
    job = queue.enqueue(tasks.send_flaky_email, ADDRESS, 2, 0)
    run_queued_jobs(queue)
    for _ in range(2):  # attempts 2 and 3
        response = client.post(f"/jobs/{job.id}/retry")
        assert response.status_code == 200, response.text
        status = response.json()["status"]
        assert status == "queued", f"POST /jobs/{{id}}/retry of a failed job answered {status!r}"
        assert job.id not in FailedJobRegistry(queue=queue), "the job is still in the failed ones"
        run_queued_jobs(queue)
    state = client.get(f"/jobs/{job.id}").json()
    assert state["result"] == receipt(), f"after 2 retries GET /jobs/{{id}} answered {state}"
    attempts = queue.connection.get(f"workbook:attempts:{job.id}")
    assert int(attempts or 0) == 3, f"workbook:attempts:<job id> holds {attempts}, not 3"


def test_retry_of_a_job_that_did_not_fail_is_409(client, queue, tasks, run_queued_jobs):
    """retry_job() of a queued or finished job answers 409 naming its status."""
    job = queue.enqueue(tasks.send_fake_email, ADDRESS, 0)
    response = client.post(f"/jobs/{job.id}/retry")
    assert response.status_code == 409, f"retry of a queued job answered {response.status_code}"
    assert "queued" in response.json()["detail"], f"the detail: {response.json()['detail']!r}"
    run_queued_jobs(queue)
    response = client.post(f"/jobs/{job.id}/retry")
    assert response.status_code == 409, f"retry of a finished job answered {response.status_code}"
    assert "finished" in response.json()["detail"], f"the detail: {response.json()['detail']!r}"
    assert queue.count == 0, f"the queue holds {queue.count} jobs after the refused retries"


def test_cancel_a_queued_job_and_the_worker_never_runs_it(client, queue, tasks, run_queued_jobs):
    """cancel_job() (POST /jobs/{id}/cancel) cancels a queued job: the worker never runs it."""
    job = queue.enqueue(tasks.send_fake_email, ADDRESS, 0)
    response = client.post(f"/jobs/{job.id}/cancel")
    assert response.status_code == 200, f"answered {response.status_code}: {response.text[:300]}"
    status = response.json()["status"]
    assert status == "canceled", f"cancel of a queued job answered {status!r}: job.cancel()"
    run_queued_jobs(queue)
    assert job.get_status(refresh=True) == "canceled", f"the job ended {job_outcome(job)}"
    assert job.started_at is None


def test_cancel_a_scheduled_job(client, queue, tasks, run_queued_jobs):
    """cancel_job() cancels a job scheduled for a retry later."""
    job = queue.enqueue(tasks.send_flaky_email, ADDRESS, 1, 0, retry=Retry(max=1, interval=60))
    run_queued_jobs(queue)
    status = client.get(f"/jobs/{job.id}").json()["status"]
    assert status == "scheduled", f"a job failed once with a retry in 60 s is {status!r}"
    response = client.post(f"/jobs/{job.id}/cancel")
    assert response.json()["status"] == "canceled", f"cancel answered {response.text[:300]}"


def test_cancel_of_a_job_that_ended_is_409(client, queue, tasks, run_queued_jobs):
    """cancel_job() of a finished job answers 409 naming its status, and leaves it finished."""
    done = queue.enqueue(tasks.send_fake_email, ADDRESS, 0)
    run_queued_jobs(queue)
    response = client.post(f"/jobs/{done.id}/cancel")
    assert response.status_code == 409, f"cancel of a finished job answered {response.status_code}"
    assert "finished" in response.json()["detail"], f"the detail: {response.json()['detail']!r}"
    assert client.post(f"/jobs/{done.id}/cancel").status_code == 409
    assert client.get(f"/jobs/{done.id}").json()["status"] == "finished"


def test_retry_and_cancel_of_unknown_or_malformed_ids(client):
    """retry_job() and cancel_job() answer 404 for an unknown id, 404 or 422 for a malformed one."""
    for action in ("retry", "cancel"):
        assert client.post(f"/jobs/{'0' * 32}/{action}").status_code == 404
        assert client.post(f"/jobs/not%20an%20id/{action}").status_code in (404, 422)


# --- the on_failure callback and GET /failures -----------------------------------------------


def test_record_failure_runs_on_every_failed_attempt(client, queue, tasks, impl, run_queued_jobs):
    """record_failure(), as on_failure callback, records each failed attempt for GET /failures."""
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
    assert job.get_status(refresh=True) == "finished", (  # the third attempt succeeded
        f"the flaky job with 2 retries ended {job_outcome(job)}"
    )
    failures = client.get("/failures").json()
    # Newest first: attempt 1 failed and was queued again behind `bad`, which failed next.
    ids = [f["job_id"] for f in failures]
    which = [{job.id: "flaky", bad.id: "newsletter"}.get(i, i) for i in ids]
    assert ids == [job.id, bad.id, job.id], (
        f"GET /failures lists the jobs {which}, not ['flaky', 'newsletter', 'flaky'] (newest"
        " first): LPUSH one entry per failed attempt"
    )
    assert failures[1]["error"] == "ValueError: not an email address: 'bob'", (
        f"the error is {failures[1]['error']!r}: '<exception type>: <message>'"
    )
    assert failures[1]["task"] == f"{impl}.tasks.send_newsletter"
    assert "attempt 2" in failures[0]["error"] and "attempt 1" in failures[2]["error"]
    assert client.get("/failures", params={"limit": 1}).json() == failures[:1]
    assert client.get("/failures", params={"limit": 0}).status_code == 422


def test_record_failure_keeps_only_the_latest(tasks, redis_conn, queue):
    """record_failure() keeps the latest FAILURES_KEPT entries, newest first, times in UTC."""
    job = queue.enqueue(tasks.send_fake_email, ADDRESS, 0)
    for i in range(tasks.FAILURES_KEPT + 5):
        tasks.record_failure(job, redis_conn, ValueError, ValueError(f"no {i}"), None)
    entries = [json.loads(e) for e in redis_conn.lrange(tasks.FAILURES_KEY, 0, -1)]
    assert len(entries) == tasks.FAILURES_KEPT, (
        f"after {tasks.FAILURES_KEPT + 5} failures the list holds {len(entries)}, not"
        f" FAILURES_KEPT={tasks.FAILURES_KEPT}: LTRIM it after the LPUSH"
    )
    newest = f"ValueError: no {tasks.FAILURES_KEPT + 4}"
    assert entries[0]["error"] == newest, f"the first entry is {entries[0]}, not the newest"
    assert entries[0]["at"].endswith("+00:00"), f"'at' is {entries[0]['at']!r}, not in UTC"


# --- Idempotency-Key ----------------------------------------------------------------------


def post(client: TestClient, key: str | None, body: dict | None = None) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key is not None else {}
    return client.post("/emails", json=body or {"email": ADDRESS, "delay": 0}, headers=headers)


def test_the_same_key_twice_makes_one_job(client, queue):
    """Two POSTs with one Idempotency-Key make one job; the second gets the first answer.

    The provided middleware calls claim_key() and remember_answer()."""
    first = post(client, "order-42")
    again = post(client, "order-42")
    assert first.status_code == again.status_code == 202, (
        f"answered {first.status_code}, then {again.status_code}: {again.text[:300]}"
    )
    assert again.json() == first.json(), f"answered {first.json()}, then {again.json()}"
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert queue.job_ids == [first.json()["job_id"]], f"the queue holds {queue.job_ids}"


def test_different_keys_or_no_key_make_new_jobs(client, queue):
    """POSTs with different Idempotency-Keys, or none, make a job each."""
    ids = {post(client, key).json()["job_id"] for key in ("a", "b", None, None)}
    assert len(ids) == 4, f"keys a, b, none, none answered {len(ids)} different job ids"
    assert queue.count == 4, f"the queue holds {queue.count} jobs, not 4"


def test_the_same_key_with_another_request_is_422(client, queue):
    """An Idempotency-Key used again with another body answers 422 "different request"."""
    post(client, "k1")
    response = post(client, "k1", {"email": "other@example.com"})
    assert response.status_code == 422, f"answered {response.status_code}: {response.text[:300]}"
    assert "different request" in response.json()["detail"]
    assert queue.count == 1


def test_a_refused_request_does_not_use_up_its_key(client, queue):
    """A POST refused with 422 does not use up its Idempotency-Key."""
    assert post(client, "k2", {"email": "not-an-email"}).status_code == 422
    assert post(client, "k2").status_code == 202
    assert queue.count == 1


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there"], ids=["empty", "long", "control"])
def test_a_bad_key_is_422(client, queue, key):
    """An empty, too long or control-character Idempotency-Key answers 422, queuing nothing."""
    response = post(client, key)
    assert response.status_code == 422, f"answered {response.status_code}: {response.text[:300]}"
    assert "Idempotency-Key" in response.json()["detail"]
    assert queue.count == 0
    assert post(client, "a-good-key").status_code == 202  # and a good one works
    assert queue.count == 1


def test_a_crashing_request_does_not_use_up_its_key(client, queue):
    """A POST that crashes does not use up its Idempotency-Key: remember_answer() with
    body=None forgets the key."""

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
    """claim_key() returns None for a new key, else what is stored, kept IDEMPOTENCY_TTL.

    remember_answer() stores the answer, or forgets the key for body=None."""
    first = failures.claim_key(redis_conn, "k3", "fp")
    assert first is None, f"the first claim of a key returned {first!r}, not None"
    again = failures.claim_key(redis_conn, "k3", "fp")
    assert again == {"fingerprint": "fp"}, f"a second claim returned {again!r}"  # in progress
    failures.remember_answer(redis_conn, "k3", "fp", 202, '{"job_id": "x"}')
    stored = failures.claim_key(redis_conn, "k3", "fp")
    assert stored == {"fingerprint": "fp", "status": 202, "body": '{"job_id": "x"}'}, (
        f"after remember_answer(..., 202, body) a claim returned {stored!r}"
    )
    ttl = redis_conn.ttl(failures.IDEMPOTENCY_PREFIX + "k3")
    assert 86000 < ttl <= 86400, (  # IDEMPOTENCY_TTL's default, one day
        f"the key's TTL is {'none (-1)' if ttl == -1 else f'{ttl} s'}, not a day: SET it with"
        " ex=get_settings().idempotency_ttl, in claim_key() and remember_answer()"
    )
    failures.remember_answer(redis_conn, "k3", "fp", 500, None)  # a failure forgets it
    after = failures.claim_key(redis_conn, "k3", "fp")
    assert after is None, f"after remember_answer(..., body=None) a claim returned {after!r}"


def test_a_key_still_in_progress_is_409(client, failures, redis_conn, queue):
    """An Idempotency-Key whose first request is still being handled answers 409."""
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
    """With Redis down, a POST with an Idempotency-Key answers 503 JSON, not 500."""
    response = post(api_client(f"redis://127.0.0.1:{closed_port}/0"), "k5")
    assert response.status_code == 503, f"answered {response.status_code}: {response.text[:300]}"
    assert "python -m lab redis start" in response.json()["detail"]


# --- real worker processes: timeouts, and retry intervals need the scheduler ---------------


@pytest.mark.e2e
@pytest.mark.parametrize("simple", [False, True], ids=["Worker", "SimpleWorker"])
def test_a_job_past_its_timeout_fails_with_the_reason(impl, tasks, queue, simple):
    """Worker and SimpleWorker stop a job past its job_timeout (1 s): it fails with
    JobTimeoutException."""
    job = queue.enqueue(tasks.send_fake_email, ADDRESS, 5, job_timeout=1)
    args = ["--burst", "--simple"] if simple else ["--burst"]
    with start_worker(*args, package=impl) as process:
        # Timed from the job's start (the worker's start-up, slow on a busy machine, aside).
        wait_for_status(job, "started", "failed", "finished", timeout=30)
        started = time.monotonic()
        wait_for_status(job, timeout=30)
        took = time.monotonic() - started
        code = process.wait(30)
        output = process.output()
    assert code == 0, f"the worker exited {code}: {last_line(output)}\n{output[-2000:]}"
    assert job.get_status(refresh=True) == "failed", f"the job ended {job_outcome(job)}"
    assert took < 4.5, f"the 5 s job with job_timeout=1 ran {took:.1f} s: on past its timeout"
    error = job.latest_result().exc_string
    assert "JobTimeoutException" in error and "(1 seconds)" in error, f"its error: {error}"


@pytest.mark.e2e
def test_retry_intervals_wait_for_a_worker_with_the_scheduler(impl, tasks, queue, receipt):
    """A retry with an interval waits, scheduled, until a worker runs --with-scheduler."""
    job = queue.enqueue(tasks.send_flaky_email, ADDRESS, 1, 0, retry=Retry(max=1, interval=1))
    with start_worker(package=impl):
        wait_for_status(job, "scheduled")
        time.sleep(2)  # its retry time passes, and no scheduler moves it
        assert job.get_status(refresh=True) == "scheduled", (
            f"without --with-scheduler the retry in 1 s ran: the job is {job_outcome(job)}"
        )
    with start_worker("--with-scheduler", package=impl) as worker:
        wait_for_status(job, "finished")
        worker.kill()  # a graceful stop waits up to 1 s for the scheduler's next tick
    assert job.return_value() == receipt()


@pytest.mark.e2e
def test_end_to_end_idempotent_posts_over_http(impl, queue):
    """In a real uvicorn process, three POSTs with one Idempotency-Key make one job."""
    with start_api(package=impl) as api, httpx.Client(base_url=api.url, timeout=5) as http:
        headers = {"Idempotency-Key": "signup-7"}
        body = {"email": ADDRESS, "delay": 0}
        answers = [http.post("/emails", json=body, headers=headers) for _ in range(3)]
    statuses = [a.status_code for a in answers]
    ids = {a.json().get("job_id") for a in answers}
    assert len(ids) == 1, f"three keyed POSTs answered {statuses} with the job ids {ids}"
    assert statuses == [202, 202, 202], f"three keyed POSTs answered {statuses}"
    assert queue.count == 1, f"the queue holds {queue.count} jobs, not 1"


@pytest.mark.e2e
def test_a_claim_whose_answer_was_lost_expires_after_the_claim_ttl(impl, failures, queue):
    """A claim whose answer was lost blocks repeats only IDEMPOTENCY_CLAIM_TTL seconds (1 s here).

    The claim of a request whose answer was never stored (Redis went away) makes a repeat
    409, with Retry-After, until it expires: then the repeat is queued (202). claim_key()
    sets the claim's expiry."""
    body = {"email": ADDRESS, "delay": 0}
    env = {"IDEMPOTENCY_CLAIM_TTL": "1"}
    with start_api(package=impl, env=env) as api, httpx.Client(base_url=api.url, timeout=5) as http:
        # The claim the middleware made before Redis went away, with the same fingerprint.
        fingerprint = f"/emails {hashlib.sha256(json.dumps(body).encode()).hexdigest()}"
        with environment(IDEMPOTENCY_CLAIM_TTL="1"):
            assert failures.claim_key(queue.connection, "lost-1", fingerprint) is None
        claimed = time.monotonic()
        content = json.dumps(body)  # the bytes the fingerprint hashed
        headers = {"Idempotency-Key": "lost-1", "Content-Type": "application/json"}
        first = http.post("/emails", content=content, headers=headers)
        assert first.status_code == 409, f"a repeat of the claimed key answered {first.text[:300]}"
        assert first.headers.get("Retry-After") == "1", dict(first.headers)
        answers = poll(
            lambda: http.post("/emails", content=content, headers=headers),
            lambda answer: answer.status_code != 409,
            "the claim to expire",
            timeout=5,
            every=0.1,
        )
        freed = time.monotonic() - claimed
    assert answers[-1].status_code == 202, f"after the claim expired: {answers[-1].text[:300]}"
    assert freed < 3, (
        f"the claim blocked the key {freed:.1f} s with IDEMPOTENCY_CLAIM_TTL=1: claim_key()"
        " should SET it with ex=get_settings().idempotency_claim_ttl"
    )
    assert queue.job_ids == [answers[-1].json()["job_id"]], f"the queue holds {queue.job_ids}"


def test_flaky_attempt_counter_expires_within_an_hour(queue, tasks, run_queued_jobs):
    """send_flaky_email() lets its attempts counter expire after an hour (3600 s)."""
    job = queue.enqueue(tasks.send_flaky_email, ADDRESS, 1, 0)
    run_queued_jobs(queue)
    ttl = queue.connection.ttl(f"workbook:attempts:{job.id}")
    assert 3500 < ttl <= 3600, (
        f"workbook:attempts:<job id> has TTL {ttl} s (-1: it never expires):"
        " call expire(key, 3600) after incr() in send_flaky_email"
    )


def test_flaky_task_sends_with_send_fake_email_and_its_delay(queue, tasks, run_queued_jobs):
    """Once it stops failing, send_flaky_email() returns send_fake_email(address, delay)."""
    job = queue.enqueue(tasks.send_flaky_email, ADDRESS, 0, 0.3)
    run_queued_jobs(queue)
    job.refresh()
    ran = (job.ended_at - job.started_at).total_seconds()
    assert 0.3 <= ran < 2, (
        f"the successful attempt took {ran:.2f} s with delay=0.3:"
        " return send_fake_email(email_address, delay)"
    )


def test_retry_a_stopped_job(client, queue, tasks, run_queued_jobs):
    """retry_job() requeues a stopped job, as it does a failed one."""
    job = queue.enqueue(tasks.send_flaky_email, ADDRESS, 1, 0)
    run_queued_jobs(queue)  # failed, in the FailedJobRegistry, as a stopped job is
    job.set_status(JobStatus.STOPPED)
    response = client.post(f"/jobs/{job.id}/retry")
    assert response.status_code == 200, (
        f"retrying a stopped job answered {response.status_code} {response.text[:200]}:"
        " a stopped job may be retried, like a failed one"
    )


def test_retry_that_loses_the_race_is_409(api_client, queue, tasks, run_queued_jobs):
    """retry_job() answers 409 when job.requeue() raises InvalidJobOperation."""
    client = api_client(raise_errors=False)  # a crash comes back as a 500
    job = queue.enqueue(tasks.send_flaky_email, ADDRESS, 1, 0)
    run_queued_jobs(queue)
    FailedJobRegistry(queue=queue).remove(job)  # as if another request requeued it first
    response = client.post(f"/jobs/{job.id}/retry")
    assert response.status_code == 409, (
        f"answered {response.status_code}: when job.requeue() raises InvalidJobOperation"
        " (another request requeued it first), answer 409"
    )


def test_cancel_a_deferred_job(client, queue, tasks):
    """cancel_job() cancels a deferred job, as it does a queued or scheduled one."""
    first = queue.enqueue(tasks.send_fake_email, ADDRESS, 0)
    after = queue.enqueue(tasks.send_fake_email, ADDRESS, 0, depends_on=first)
    response = client.post(f"/jobs/{after.id}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "canceled", (
        f"cancelling a deferred job answered {response.status_code} {response.text[:200]}:"
        " queued, scheduled and deferred jobs can be canceled"
    )


def test_cancel_of_a_started_or_canceled_job_is_409(api_client, queue, tasks):
    """cancel_job() answers 409 naming the status for a started job, and for a second cancel."""
    client = api_client(raise_errors=False)  # a crash comes back as a 500
    running = queue.enqueue(tasks.send_fake_email, ADDRESS, 0)
    running.set_status(JobStatus.STARTED)
    response = client.post(f"/jobs/{running.id}/cancel")
    assert response.status_code == 409 and "started" in response.json()["detail"], (
        f"cancelling a started job answered {response.status_code}: only a job that has not"
        " started (queued, scheduled, deferred) can be canceled; 409 naming the status otherwise"
    )
    waiting = queue.enqueue(tasks.send_fake_email, ADDRESS, 0)
    assert client.post(f"/jobs/{waiting.id}/cancel").status_code == 200
    again = client.post(f"/jobs/{waiting.id}/cancel")
    assert again.status_code == 409, f"cancelling twice answered {again.status_code}, not 409"


def test_claim_key_sets_the_idempotency_ttl(failures, redis_conn, monkeypatch):
    """claim_key() keeps a claim IDEMPOTENCY_CLAIM_TTL s; remember_answer(), IDEMPOTENCY_TTL s.

    Both settings are read when called."""
    monkeypatch.setenv("IDEMPOTENCY_TTL", "120")
    monkeypatch.setenv("IDEMPOTENCY_CLAIM_TTL", "20")
    get_settings.cache_clear()
    assert failures.claim_key(redis_conn, "k7", "fp") is None
    ttl = redis_conn.ttl(failures.IDEMPOTENCY_PREFIX + "k7")
    assert 15 < ttl <= 20, (
        f"after claim_key() with IDEMPOTENCY_CLAIM_TTL=20 the claim has TTL {ttl} s (-1: never"
        " expires): SET it with ex=get_settings().idempotency_claim_ttl, read at call time, so"
        " that a claim whose answer was lost does not block the key for IDEMPOTENCY_TTL"
    )
    failures.remember_answer(redis_conn, "k7", "fp", 202, "{}")
    ttl = redis_conn.ttl(failures.IDEMPOTENCY_PREFIX + "k7")
    assert 110 < ttl <= 120, f"after remember_answer() the TTL is {ttl} s, not IDEMPOTENCY_TTL"


class Interleaved:
    """A Redis client: right after the first command claim_key() sends, another request
    claims the same key (SET NX), as a concurrent request could."""

    def __init__(self, real, key):
        self.real, self.key, self.other_won = real, key, None

    def __getattr__(self, name):
        attr = getattr(self.real, name)
        if not callable(attr) or self.other_won is not None:
            return attr

        def call(*args, **kwargs):
            result = attr(*args, **kwargs)
            if self.other_won is None:
                other = json.dumps({"fingerprint": "other"})
                self.other_won = bool(self.real.set(self.key, other, nx=True))
            return result

        return call


def test_claim_key_is_atomic(failures, redis_conn):
    """claim_key() claims a key in one command (SET nx=True): two requests never both win."""
    racing = Interleaved(redis_conn, failures.IDEMPOTENCY_PREFIX + "k8")
    mine = failures.claim_key(racing, "k8", "mine")
    winners = (mine is None) + bool(racing.other_won)
    assert winners == 1, (
        f"{winners} requests both claimed the key: a read then a write lets a concurrent"
        " request in between; claim it in one command, SET with nx=True"
    )


def test_retry_puts_the_job_at_the_end_of_its_queue(client, queue, tasks, run_queued_jobs):
    """retry_job() puts the job back at the end of its queue, behind the jobs waiting there."""
    failed = queue.enqueue(tasks.send_flaky_email, ADDRESS, 1, 0)
    run_queued_jobs(queue)
    waiting = queue.enqueue(tasks.send_fake_email, ADDRESS, 0)
    assert client.post(f"/jobs/{failed.id}/retry").status_code == 200
    assert Queue(queue.name, connection=queue.connection).job_ids == [waiting.id, failed.id], (
        "the retried job was not put at the end of its queue: job.requeue() (at_front=False)"
    )

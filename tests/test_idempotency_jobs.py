"""One Idempotency-Key, one job (lab/support/queueing/api_queue.py): a repeat of a request
whose key's claim expired without a stored answer (Redis was away when the answer was to be
stored) finds the first job instead of queueing a second, through a real uvicorn; the
API's queue writes a keyed job once even when many repeats race, scheduled and dependent
jobs too; and every job it queues gets JOB_RETRIES retries."""

from __future__ import annotations

import threading
from datetime import timedelta

import httpx
import pytest
from redis import Redis
from rq import Retry

from lab.support.queueing.api_queue import KEYED_PREFIX, ApiQueue, job_id_for, keyed_request
from lab.support.servers.processes import poll, start_api
from solutions.failures import IDEMPOTENCY_PREFIX
from solutions.tasks import send_fake_email


def test_a_repeat_after_the_claim_expired_gets_the_first_job(redis_url, redis_conn, queue):
    """The issue's case, in a real API: a 202 whose answer was never stored (here: the
    claim deleted, as its TTL would), then the client's repeat. The repeat answers 202 with
    the first job's id; the job is queued once; once it ran, a third repeat neither resets
    it nor queues it again."""
    key = "order-42"
    body = {"email": "user@example.com", "delay": 0}
    with start_api("solutions", env={"REDIS_URL": redis_url}) as api:
        post = lambda: httpx.post(  # noqa: E731
            f"{api.url}/emails", json=body, headers={"Idempotency-Key": key}, timeout=10
        )
        first = post()
        assert first.status_code == 202, first.text
        job_id = first.json()["job_id"]
        assert job_id.startswith(KEYED_PREFIX), job_id
        # The middleware stores the answer just after sending it: wait for that, then drop
        # it (as if it was never stored and the claim expired).
        poll(lambda: redis_conn.get(IDEMPOTENCY_PREFIX + key) or b"", lambda v: b'"body"' in v,
             "the stored answer", 10)  # fmt: skip
        redis_conn.delete(IDEMPOTENCY_PREFIX + key)
        again = post()
        assert again.status_code == 202, again.text
        assert again.headers.get("Idempotent-Replayed") is None  # the endpoint ran again
        assert again.json()["job_id"] == job_id
        assert queue.get_job_ids() == [job_id]
        job = queue.fetch_job(job_id)
        assert job is not None and job.retries_left == 3  # JOB_RETRIES
        from lab.support.workers.classes import WorkbookSimpleWorker

        WorkbookSimpleWorker([queue], connection=redis_conn).work(burst=True)
        assert job.get_status(refresh=True) == "finished"
        redis_conn.delete(IDEMPOTENCY_PREFIX + key)
        third = post()
        assert third.status_code == 202 and third.json()["job_id"] == job_id, third.text
        assert job.get_status(refresh=True) == "finished"  # not reset to queued
        assert queue.get_job_ids() == []
        assert len(job.results()) == 1
        other = httpx.post(
            f"{api.url}/emails", json=body, headers={"Idempotency-Key": "order-43"}, timeout=10
        )
        assert other.json()["job_id"] not in (job_id, None)
        plain = httpx.post(f"{api.url}/emails", json=body, timeout=10)
        assert not plain.json()["job_id"].startswith(KEYED_PREFIX)


def test_many_repeats_at_once_make_one_job(redis_url, redis_conn):
    """Twenty repeats of one keyed request queue at the same moment, each with its own
    connection: one job is written and pushed, and all twenty get its id."""
    barrier = threading.Barrier(20)
    ids: list[str] = []

    def one() -> None:
        client = Redis.from_url(redis_url)
        queue = ApiQueue("keyed", connection=client)
        with keyed_request("k", "POST /emails abc"):
            barrier.wait()
            ids.append(queue.enqueue(send_fake_email, "user@example.com", 0).id)
        client.close()

    threads = [threading.Thread(target=one) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    expected = job_id_for("k", "POST /emails abc")
    assert ids == [expected] * 20
    assert redis_conn.lrange("rq:queue:keyed", 0, -1) == [expected.encode()]


def test_a_request_s_jobs_scheduled_and_dependent_are_each_written_once(redis_conn):
    """A request that queues several jobs (a chain with depends_on, a scheduled one) gives
    each its own keyed id, the same on a repeat; the repeat writes none of them again."""
    queue = ApiQueue("keyed", connection=redis_conn)

    def request() -> list[str]:
        with keyed_request("chain", "POST /repositories x"):
            first = queue.enqueue(send_fake_email, "a@example.com", 0)
            second = queue.enqueue(send_fake_email, "b@example.com", 0, depends_on=first)
            later = queue.enqueue_in(timedelta(hours=1), send_fake_email, "c@example.com", 0)
            return [first.id, second.id, later.id]

    ids = request()
    base = job_id_for("chain", "POST /repositories x")
    assert ids == [base, f"{base}-2", f"{base}-3"]
    redis_conn.hset(f"rq:job:{base}", "description", "marked")  # a write a repeat must keep
    assert request() == ids
    assert redis_conn.hget(f"rq:job:{base}", "description") == b"marked"
    assert queue.get_job_ids() == [base]
    assert queue.deferred_job_registry.get_job_ids() == [f"{base}-2"]
    assert queue.scheduled_job_registry.get_job_ids() == [f"{base}-3"]


def test_jobs_get_job_retries_unless_they_have_a_retry_or_an_id(redis_conn, monkeypatch):
    """Outside a keyed request: a random id, JOB_RETRIES retries (0: none); a job's own
    Retry and job_id are kept."""
    from lab.support.config import get_settings

    queue = ApiQueue("keyed", connection=redis_conn)
    job = queue.enqueue(send_fake_email, "user@example.com", 0)
    assert not job.id.startswith(KEYED_PREFIX) and job.retries_left == 3
    own = queue.enqueue(send_fake_email, "u@example.com", 0, retry=Retry(max=1), job_id="mine")
    assert (own.id, own.retries_left) == ("mine", 1)
    monkeypatch.setenv("JOB_RETRIES", "0")
    get_settings.cache_clear()
    assert queue.enqueue(send_fake_email, "user@example.com", 0).retries_left is None
    with pytest.raises(ValueError, match="JOB_RETRIES"):
        monkeypatch.setenv("JOB_RETRIES", "-1")
        get_settings.cache_clear()
        get_settings()

"""Provided code of notebook 10: the fake mail provider (lab/support/queueing/outbox.py),
empty_queue() after a worker was killed mid-job, and the API's emails before and after
JOB_RETRIES (lab/support/queueing/api_queue.py) with real processes."""

from __future__ import annotations

import threading

import httpx
import pytest
from rq import Queue, SimpleWorker
from rq.job import Job

from lab.support.queueing import outbox
from lab.support.queueing.jobs import empty_queue, job_outcome, wait_for_status
from lab.support.servers.processes import start_api, start_worker

ADDRESS = "user@example.com"
#: A worker that notices a dead one fast: the settings notebook 10 uses.
FAST = {"JOB_HEARTBEAT": "1", "JOB_LEASE": "3", "MAINTENANCE_INTERVAL": "1"}


def test_deliver_without_a_key_sends_every_time(redis_conn):
    assert outbox.deliver(redis_conn, ADDRESS) is True
    assert outbox.deliver(redis_conn, ADDRESS) is True
    assert outbox.sent(redis_conn, ADDRESS) == 2
    assert [e["key"] for e in outbox.deliveries(redis_conn)] == [None, None]


def test_deliver_with_a_key_sends_once_per_key(redis_conn):
    assert outbox.deliver(redis_conn, ADDRESS, "k1") is True
    assert outbox.deliver(redis_conn, ADDRESS, "k1") is False
    assert outbox.deliver(redis_conn, ADDRESS, "k2") is True
    assert outbox.deliver(redis_conn, "other@example.com", "k3") is True
    assert outbox.sent(redis_conn, ADDRESS) == 2
    assert outbox.sent(redis_conn) == 3


def test_keys_and_the_outbox_expire_after_a_day(redis_conn):
    outbox.deliver(redis_conn, ADDRESS, "k1")
    assert 0 < redis_conn.ttl(outbox.KEY_PREFIX + "k1") <= outbox.KEY_TTL == 86400
    assert 0 < redis_conn.ttl(outbox.OUTBOX_KEY) <= 86400


def test_many_deliveries_with_one_key_at_once_send_once(redis_url, redis_conn):
    """Two runs of a job at the same moment (a worker thought dead, still running): the key
    is checked and the email recorded in one step, so one of them sends."""
    from redis import Redis

    barrier = threading.Barrier(20)
    results: list[bool] = []

    def one() -> None:
        client = Redis.from_url(redis_url)
        barrier.wait()
        results.append(outbox.deliver(client, ADDRESS, "same"))
        client.close()

    threads = [threading.Thread(target=one) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(results) == [False] * 19 + [True]
    assert outbox.sent(redis_conn) == 1


def test_clear_forgets_the_emails_and_the_keys(redis_conn):
    outbox.deliver(redis_conn, ADDRESS, "k1")
    outbox.clear(redis_conn)
    assert outbox.sent(redis_conn) == 0
    assert outbox.deliver(redis_conn, ADDRESS, "k1") is True


def test_send_receipt_sends_on_every_run(redis_conn):
    """The naive task: the same job run twice sends twice."""
    queue = Queue("receipts", connection=redis_conn)
    job = queue.enqueue(outbox.send_receipt, ADDRESS, 0)
    for _ in range(2):
        SimpleWorker([queue], connection=redis_conn).work(burst=True)
        queue.enqueue_job(job)
    assert outbox.sent(redis_conn, ADDRESS) == 2
    assert job.return_value() == f"Receipt sent to {ADDRESS}"


def test_empty_queue_after_a_worker_was_killed_mid_job(redis_conn):
    """A job whose worker was killed keeps an execution in its index after the execution
    itself expired; RQ's job.delete() then raises. empty_queue() deletes it all the same."""
    queue = Queue("killed", connection=redis_conn)
    job = queue.enqueue(outbox.send_receipt, ADDRESS, 0)
    redis_conn.lrem(queue.key, 0, job.id)  # a worker took it, and started it
    redis_conn.hset(job.key, "status", "started")
    redis_conn.zadd(queue.started_job_registry.key, {f"{job.id}:x": 1})
    redis_conn.zadd(f"rq:executions:{job.id}", {"x": 1e12})  # an execution whose hash is gone
    empty_queue(queue)
    assert not redis_conn.exists(job.key)
    assert queue.started_job_registry.get_job_ids(cleanup=False) == []


def test_a_worker_holds_the_maintenance_lock_at_most_maintenance_interval(redis_conn):
    """RQ holds a queue's cleanup lock 899 s; a worker killed (or SIGTERMed, which raises
    where it is) while it cleans never releases it, and the queue's abandoned jobs wait 15
    minutes. The workbook's workers hold it MAINTENANCE_INTERVAL seconds."""
    from lab.support.config import get_settings
    from lab.support.workers.classes import WorkbookWorker

    worker = WorkbookWorker([Queue("locked", connection=redis_conn)], connection=redis_conn)
    queue = worker.queues[0]
    assert queue.acquire_maintenance_lock() is True
    assert 0 < redis_conn.ttl(queue.registry_cleaning_key) <= get_settings().maintenance_interval
    assert queue.acquire_maintenance_lock() is False  # still one worker at a time


@pytest.mark.parametrize("retries", ["0", "3"])
def test_an_api_email_whose_worker_was_killed(redis_url, redis_conn, retries):
    """Notebook 10's before and after, with a real API and real workers: POST /emails (2 s
    of work), its worker killed during the work, before the email went out, then another
    worker. JOB_RETRIES=0 (before): the job is failed (AbandonedJobError) and the email never
    sent. JOB_RETRIES=3 (the default, after): the job is run again, finishes, and its email is
    delivered once."""
    env = {"REDIS_URL": redis_url, **FAST}
    with start_api("solutions", env={**env, "JOB_RETRIES": retries}) as api:
        answer = httpx.post(f"{api.url}/emails", json={"email": ADDRESS, "delay": 2}, timeout=10)
    assert answer.status_code == 202, answer.text
    job = Job.fetch(answer.json()["job_id"], connection=redis_conn)
    with start_worker("--simple", package="solutions", env=env) as first:
        wait_for_status(job, "started")
        first.kill()
    assert outbox.sent(redis_conn, ADDRESS) == 0
    with start_worker("--simple", package="solutions", env=env):
        status = wait_for_status(job, "finished", "failed", timeout=30)
    if retries == "0":
        assert status == "failed" and "AbandonedJobError" in job_outcome(job)
        assert outbox.sent(redis_conn, ADDRESS) == 0
    else:
        assert status == "finished", job_outcome(job)
        job.refresh()
        assert job.retries_left == 2  # one retry used: it ran again
        assert outbox.sent(redis_conn, ADDRESS) == 1

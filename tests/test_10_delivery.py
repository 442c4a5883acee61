"""Step 10: lab/tasks.py - send_email_once(), an email sent once under at-least-once delivery.

The mail provider is the provided fake one (lab/support/queueing/outbox.py): tests count
what it sent.
"""

from __future__ import annotations

import pytest
from rq import Retry

from lab.support.queueing import outbox
from lab.support.queueing.jobs import job_outcome, wait_for_status
from lab.support.servers.processes import poll, start_worker

ADDRESS = "user@example.com"
#: A worker that notices a dead one fast: the settings notebook 10 uses.
FAST = {"JOB_HEARTBEAT": "1", "JOB_LEASE": "3", "MAINTENANCE_INTERVAL": "1"}


def test_a_job_sends_its_email_with_its_id_as_the_key(queue, tasks, run_queued_jobs, receipt):
    """send_email_once() delivers once, with the job's id as the idempotency key, and
    returns the receipt."""
    job = queue.enqueue(tasks.send_email_once, ADDRESS, 0)
    run_queued_jobs(queue)
    assert job.get_status(refresh=True) == "finished", f"the job ended {job_outcome(job)}"
    assert job.return_value() == receipt(), f"it returned {job.return_value()!r}"
    sent = outbox.deliveries(queue.connection)
    assert [e["to"] for e in sent] == [ADDRESS], f"the outbox holds {sent}, not one email"
    assert sent[0]["key"] == job.id, (
        f"the email was delivered with the key {sent[0]['key']!r}, not the job's id {job.id!r}:"
        " outbox.deliver(job.connection, email_address, idempotency_key=job.id)"
    )


def test_the_same_job_run_twice_sends_one_email(queue, tasks, run_queued_jobs, receipt):
    """The same job run a second time (as RQ runs a retried job: same id) sends nothing
    more, and returns the receipt again."""
    job = queue.enqueue(tasks.send_email_once, ADDRESS, 0)
    run_queued_jobs(queue)
    queue.enqueue_job(job)  # the same job, the same id: what a retry does
    run_queued_jobs(queue)
    runs = job.results()
    assert len(runs) == 2, f"the job ran {len(runs)} times, not 2"
    assert job.return_value() == receipt(), f"the second run returned {job.return_value()!r}"
    count = outbox.sent(queue.connection, ADDRESS)
    assert count == 1, f"a job run twice sent {count} emails, not 1: deliver with its id as key"


def test_two_jobs_send_two_emails(queue, tasks, run_queued_jobs):
    """Two jobs for the same address send two emails: the key is the job's id.

    Not the address: a customer may get two receipts for two orders."""
    jobs = [queue.enqueue(tasks.send_email_once, ADDRESS, 0) for _ in range(2)]
    run_queued_jobs(queue)
    assert [j.get_status(refresh=True) for j in jobs] == ["finished", "finished"]
    count = outbox.sent(queue.connection, ADDRESS)
    assert count == 2, f"two jobs sent {count} emails, not 2: the key is job.id, one per job"


def test_it_works_its_delay_after_sending(queue, tasks, run_queued_jobs, monkeypatch):
    """send_email_once(address, delay) sends first, then waits `delay` seconds."""
    import time

    seen: list[tuple[float, int]] = []
    monkeypatch.setattr(time, "sleep", lambda s: seen.append((s, outbox.sent(queue.connection))))
    queue.enqueue(tasks.send_email_once, ADDRESS, 0.25)
    run_queued_jobs(queue)
    assert (0.25, 1) in seen, (
        f"time.sleep() was called as {seen} ((seconds, emails sent by then)): deliver, then"
        " time.sleep(delay)"
    )


def test_outside_a_job_it_says_to_enqueue_it(tasks, redis_conn):
    """send_email_once() outside a job raises RuntimeError saying to enqueue it, sending nothing.

    There is no job id to use as the key."""
    with pytest.raises(RuntimeError, match="enqueue"):
        tasks.send_email_once(ADDRESS, 0)
    assert outbox.sent(redis_conn) == 0


@pytest.mark.e2e
def test_a_worker_killed_after_sending_the_job_runs_again_and_sends_once(impl, tasks, queue):
    """A job whose worker is killed after sending runs again, and sends no second email.

    SIGKILL after the email went out: another worker's maintenance finds the job abandoned
    within JOB_LEASE + MAINTENANCE_INTERVAL and retries it (Retry(max=1)); the second run
    sends nothing: one email in the outbox."""
    job = queue.enqueue(tasks.send_email_once, ADDRESS, 1, retry=Retry(max=1))
    with start_worker("--simple", package=impl, env=FAST) as first:
        sent, status = poll(
            lambda: (outbox.sent(queue.connection), job.get_status(refresh=True)),
            lambda seen: seen[0] >= 1 or seen[1] in ("finished", "failed"),
            "the first email",
            15,
        )[-1]
        first.kill()  # SIGKILL mid-job: the job is still started
    assert sent == 1, f"the first run sent no email; the job is {job_outcome(job)}"
    assert job.get_status(refresh=True) == "started", f"after the kill: {job_outcome(job)}"
    with start_worker("--simple", package=impl, env=FAST) as second:
        status = wait_for_status(job, "finished", "failed", timeout=20)
        log = second.output()
    assert status == "finished", f"the job ended {job_outcome(job)}; the worker said:\n{log}"
    job.refresh()
    assert job.retries_left == 0, f"retries_left is {job.retries_left}: was it run again?"
    count = outbox.sent(queue.connection, ADDRESS)
    assert count == 1, f"the job ran twice and sent {count} emails, not 1"

"""Step 01: lab/tasks.py - send_fake_email()."""

from __future__ import annotations

import logging
import time

import pytest
from rq import Queue

from lab.support.config import get_settings
from lab.support.queueing.jobs import job_outcome


def test_returns_the_receipt(tasks):
    """send_fake_email() returns 'Task complete: Email sent to <address>'."""
    receipt = tasks.send_fake_email("user@example.com", delay=0)
    assert receipt == "Task complete: Email sent to user@example.com"


def test_waits_the_given_delay(tasks):
    """send_fake_email(address, delay) waits `delay` seconds: time.sleep(delay)."""
    start = time.monotonic()
    tasks.send_fake_email("user@example.com", delay=0.3)
    took = time.monotonic() - start
    assert 0.3 <= took < 2, f"took {took:.2f} s with delay=0.3"


def test_default_delay_comes_from_email_delay(tasks, monkeypatch):
    """send_fake_email() without a delay waits the EMAIL_DELAY setting, read when it runs."""
    monkeypatch.setenv("EMAIL_DELAY", "0.2")
    get_settings.cache_clear()
    start = time.monotonic()
    tasks.send_fake_email("user@example.com")
    took = time.monotonic() - start
    assert 0.2 <= took < 2, f"took {took:.1f} s with EMAIL_DELAY=0.2: " + (
        "read the setting when the function runs, not at import"
        if took >= 2
        else "when delay is None, sleep get_settings().email_delay seconds"
    )


def test_default_delay_is_ten_seconds_as_in_the_original_tutorial(tasks, monkeypatch):
    """send_fake_email() with EMAIL_DELAY unset sleeps 10 s, as in the original tutorial."""
    monkeypatch.delenv("EMAIL_DELAY", raising=False)
    get_settings.cache_clear()
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    tasks.send_fake_email("user@example.com")
    assert slept == [10.0], (
        f"time.sleep() was called with {slept}, not once with 10.0 (the EMAIL_DELAY default)"
    )


def test_a_negative_delay_is_refused(tasks):
    """send_fake_email() with a negative delay raises ValueError, its message naming 'delay'."""
    with pytest.raises(ValueError, match="delay"):
        tasks.send_fake_email("user@example.com", delay=-1)


def test_logs_start_and_finish(tasks, impl, caplog):
    """send_fake_email() logs two lines naming the address with log.info(): before and after."""
    with caplog.at_level(logging.INFO, logger=f"{impl}.tasks"):
        tasks.send_fake_email("user@example.com", delay=0)
    messages = [r.getMessage() for r in caplog.records if r.name == f"{impl}.tasks"]
    assert len(messages) == 2, (
        f"the logger {impl}.tasks (`log`) got {len(messages)} lines, not 2: {messages}"
    )
    assert "user@example.com" in messages[0] and "user@example.com" in messages[1], (
        f"both lines should name the address: {messages}"
    )


def test_runs_as_a_job_on_a_real_worker(tasks, impl, redis_conn, run_queued_jobs):
    """send_fake_email, enqueued on a queue, runs on a worker: the job finishes with the receipt."""
    queue = Queue("step01", connection=redis_conn)
    job = queue.enqueue(tasks.send_fake_email, "user@example.com", 0.05)
    assert job.func_name == f"{impl}.tasks.send_fake_email"  # what the worker imports
    run_queued_jobs(queue)  # a SimpleWorker in this process
    job.refresh()
    assert job.get_status() == "finished", f"the job ended {job_outcome(job)}"
    assert job.return_value() == "Task complete: Email sent to user@example.com"


def test_a_negative_delay_raises_before_anything_is_logged(tasks, impl, caplog, monkeypatch):
    """A negative delay raises ValueError before send_fake_email() logs or sleeps anything."""
    slept = []
    monkeypatch.setattr(time, "sleep", slept.append)
    with caplog.at_level(logging.DEBUG, logger=f"{impl}.tasks"):
        with pytest.raises(ValueError, match="delay"):
            tasks.send_fake_email("user@example.com", delay=-1)
    logged = [r.getMessage() for r in caplog.records if r.name == f"{impl}.tasks"]
    assert logged == [] and slept == [], (
        f"send_fake_email(delay=-1) logged {logged} and slept {slept} before raising:"
        " check the delay first, before the first log.info()"
    )


def test_delay_zero_is_not_replaced_by_the_default(tasks, monkeypatch):
    """send_fake_email(address, delay=0) does not wait: only delay=None takes EMAIL_DELAY."""
    monkeypatch.delenv("EMAIL_DELAY", raising=False)
    get_settings.cache_clear()
    slept = []
    monkeypatch.setattr(time, "sleep", slept.append)
    tasks.send_fake_email("user@example.com", delay=0)
    assert sum(slept) == 0, (
        f"send_fake_email(delay=0) slept {slept} s: only delay=None takes EMAIL_DELAY"
        " (write `if delay is None:`, not `delay or ...`)"
    )


def test_logs_start_sleeps_then_logs_end_in_the_notebooks_words(tasks, impl, caplog, monkeypatch):
    """send_fake_email() logs its start line with log.info(), sleeps, then logs its end line."""
    logged_before_sleep = []
    monkeypatch.setattr(time, "sleep", lambda s: logged_before_sleep.append(len(caplog.records)))
    with caplog.at_level(logging.INFO, logger=f"{impl}.tasks"):
        tasks.send_fake_email("user@example.com", 0.5)
    lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == f"{impl}.tasks"]
    expected = [
        ("INFO", "Starting to send email to user@example.com..."),
        ("INFO", "Email sent to user@example.com!"),
    ]
    assert lines == expected, f"send_fake_email logged {lines}; expected {expected} (log.info())"
    assert logged_before_sleep == [1], (
        f"time.sleep() ran after {logged_before_sleep} log lines: log the start line,"
        " then sleep, then log the end line"
    )


def test_a_job_hands_its_email_to_the_provider_once(
    tasks, redis_conn, run_queued_jobs, monkeypatch
):
    """Run as a job, send_fake_email() sends once through outbox.send(), after the sleep.

    The fake mail provider's outbox holds the email, keyed by the job; the same job run
    again (a retry) sends nothing more."""
    from lab.support.queueing import outbox

    queue = Queue("step01", connection=redis_conn)
    job = queue.enqueue(tasks.send_fake_email, "user@example.com", 0)
    sent_when_sleeping = []
    sleep = time.sleep
    monkeypatch.setattr(
        time, "sleep", lambda s: (sent_when_sleeping.append(outbox.sent(redis_conn)), sleep(s))
    )
    run_queued_jobs(queue)
    sent = outbox.deliveries(redis_conn)
    assert [email["to"] for email in sent] == ["user@example.com"], (
        f"the outbox holds {sent}: call outbox.send(email_address) once, after the sleep"
    )
    assert sent[0]["key"] == f"{job.id}:user@example.com"
    assert sent_when_sleeping[:1] == [0], "send after time.sleep(delay), not before"
    queue.enqueue_job(job)
    run_queued_jobs(queue)
    assert outbox.sent(redis_conn) == 1, "a job run twice sent twice: use outbox.send()"

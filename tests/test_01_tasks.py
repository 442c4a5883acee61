"""Step 01: lab/tasks.py - send_fake_email()."""

from __future__ import annotations

import logging
import time

import pytest
from rq import Queue, SimpleWorker


def test_returns_the_receipt(tasks):
    receipt = tasks.send_fake_email("user@example.com", delay=0)
    assert receipt == "Task complete: Email sent to user@example.com"


def test_waits_the_given_delay(tasks):
    start = time.monotonic()
    tasks.send_fake_email("user@example.com", delay=0.3)
    assert 0.3 <= time.monotonic() - start < 2


def test_default_delay_comes_from_email_delay(tasks, monkeypatch):
    monkeypatch.setenv("EMAIL_DELAY", "0.2")
    start = time.monotonic()
    tasks.send_fake_email("user@example.com")
    assert 0.2 <= time.monotonic() - start < 2


def test_default_delay_is_ten_seconds_as_in_the_original_tutorial(tasks, monkeypatch):
    monkeypatch.delenv("EMAIL_DELAY", raising=False)
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    tasks.send_fake_email("user@example.com")
    assert slept == [10.0]


def test_a_negative_delay_is_refused(tasks):
    with pytest.raises(ValueError, match="delay"):
        tasks.send_fake_email("user@example.com", delay=-1)


def test_logs_start_and_finish(tasks, impl, caplog):
    with caplog.at_level(logging.INFO, logger=f"{impl}.tasks"):
        tasks.send_fake_email("user@example.com", delay=0)
    messages = [r.getMessage() for r in caplog.records if r.name == f"{impl}.tasks"]
    assert len(messages) == 2
    assert "user@example.com" in messages[0] and "user@example.com" in messages[1]


def test_runs_as_a_job_on_a_real_worker(tasks, impl, redis_conn):
    queue = Queue("step01", connection=redis_conn)
    job = queue.enqueue(tasks.send_fake_email, "user@example.com", 0.05)
    assert job.func_name == f"{impl}.tasks.send_fake_email"  # what the worker imports
    SimpleWorker([queue], connection=redis_conn).work(burst=True)
    job.refresh()
    assert job.get_status() == "finished"
    assert job.return_value() == "Task complete: Email sent to user@example.com"

"""Step 03: lab/worker.py - a real worker process, and the whole chain end to end."""

from __future__ import annotations

import sys
import time

import httpx
from rq import Queue, SimpleWorker, Worker
from rq.job import Job

from lab.support.background import start_api, start_worker
from lab.support.helpers import wait_for_status


def test_worker_class_forks_except_when_simple(worker, monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    assert worker.worker_class() is Worker
    assert worker.worker_class(simple=True) is SimpleWorker


def test_worker_class_is_simple_on_windows(worker, monkeypatch):
    monkeypatch.setattr(sys, "platform", "win32")
    assert worker.worker_class() is SimpleWorker


def test_build_worker_listens_on_the_named_queues_in_order(worker, redis_conn):
    built = worker.build_worker(["high", "default", "low"], connection=redis_conn)
    assert [q.name for q in built.queues] == ["high", "default", "low"]
    assert all(q.connection is redis_conn for q in built.queues)
    assert built.connection is redis_conn


def test_build_worker_defaults(worker, redis_conn, monkeypatch):
    monkeypatch.delenv("QUEUE_NAME", raising=False)
    built = worker.build_worker(simple=True)
    assert isinstance(built, SimpleWorker)
    assert [q.name for q in built.queues] == ["default"]
    assert built.connection.ping() is True


def test_python_m_worker_burst_runs_the_queued_jobs(impl, tasks, queue, receipt):
    jobs = [queue.enqueue(tasks.send_fake_email, f"u{i}@example.com", 0.05) for i in range(2)]
    with start_worker("--burst", package=impl) as process:
        assert process.wait(30) == 0
        output = process.output()
    assert "Worker listening on default" in output
    for i, job in enumerate(jobs):
        assert job.get_status(refresh=True) == "finished"
        assert job.return_value() == receipt(f"u{i}@example.com")
    assert "Starting to send email to u0@example.com" in output


def test_simple_flag_and_queue_names(impl, tasks, redis_conn, receipt):
    queue = Queue("emails", connection=redis_conn)
    job = queue.enqueue(tasks.send_fake_email, "user@example.com", 0)
    with start_worker("emails", "--burst", "--simple", package=impl) as process:
        assert process.wait(30) == 0
        assert "SimpleWorker listening on emails" in process.output()
    assert job.return_value(refresh=True) == receipt()


def test_unreachable_redis_gives_one_clear_line(impl, closed_port):
    env = {"REDIS_URL": f"redis://127.0.0.1:{closed_port}/0"}
    with start_worker("--burst", package=impl, env=env) as process:
        assert process.wait(10) == 1
        output = process.output()
    assert "Traceback" not in output
    assert "Cannot reach Redis" in output
    assert "python -m lab redis start" in output


def test_end_to_end_the_original_curl_request(impl, redis_conn, receipt):
    """uvicorn + worker as real processes: the tutorial's request is answered at once,
    and the job then finishes with the receipt."""
    env = {"EMAIL_DELAY": "0.5"}
    with start_api(package=impl, env=env) as api, start_worker(package=impl, env=env):
        with httpx.Client(base_url=api.url, timeout=5) as http:
            times = []
            for _ in range(5):  # the first request pays for imports and connections
                start = time.monotonic()
                response = http.get("/send-email/user@example.com")
                times.append(time.monotonic() - start)
                assert response.status_code == 200
        assert max(times) < 0.5, f"answers took {times} s"
        print(f"\nenqueue endpoint: first {times[0] * 1000:.1f} ms, then", end=" ")
        print(", ".join(f"{t * 1000:.1f}" for t in times[1:]), "ms")
        job = Job.fetch(response.json()["job_id"], connection=redis_conn)
        assert wait_for_status(job) == "finished"
        job.refresh()
        assert job.return_value() == receipt()
        assert (job.ended_at - job.started_at).total_seconds() >= 0.5  # EMAIL_DELAY


def test_end_to_end_post_emails(impl, redis_conn, receipt):
    with start_api(package=impl) as api, start_worker(package=impl):
        response = httpx.post(
            f"{api.url}/emails", json={"email": "user@example.com", "delay": 0.1}, timeout=5
        )
        assert response.status_code == 202
        job = Job.fetch(response.json()["job_id"], connection=redis_conn)
        assert wait_for_status(job) == "finished"
        assert job.return_value() == receipt()

"""Step 03: lab/worker.py - a real worker process, and the whole chain end to end."""

from __future__ import annotations

import sys
import time

import httpx
import pytest
from rq import Queue, SimpleWorker, Worker
from rq.job import Job

from lab.support.config import get_settings
from lab.support.queueing.jobs import job_outcome, wait_for_status
from lab.support.servers.processes import last_line, start_api, start_worker


def test_worker_class_forks_except_when_simple(worker, monkeypatch):
    """worker_class() is Worker on Linux and macOS, and SimpleWorker when simple=True."""
    monkeypatch.setattr(sys, "platform", "linux")
    assert worker.worker_class() is Worker
    assert worker.worker_class(simple=True) is SimpleWorker


def test_worker_class_is_simple_on_windows(worker, monkeypatch):
    """worker_class() is SimpleWorker when sys.platform == 'win32' (Windows cannot fork)."""
    monkeypatch.setattr(sys, "platform", "win32")
    assert worker.worker_class() is SimpleWorker


def test_build_worker_listens_on_the_named_queues_in_order(worker, redis_conn):
    """build_worker(names, connection=c) listens on one queue per name, in order, all on c."""
    built = worker.build_worker(["high", "default", "low"], connection=redis_conn)
    names = [q.name for q in built.queues]
    assert names == ["high", "default", "low"], (
        f"build_worker(['high', 'default', 'low']) listens on {names}"
    )
    assert all(q.connection is redis_conn for q in built.queues), (
        "a queue is on another connection: pass `connection` to get_queue() for each name"
    )
    assert built.connection is redis_conn, "pass connection=connection to the worker class"


def test_build_worker_defaults(worker, redis_conn, monkeypatch):
    """build_worker() with no queue names listens on the QUEUE_NAME queue, 'default'."""
    monkeypatch.delenv("QUEUE_NAME", raising=False)
    get_settings.cache_clear()
    built = worker.build_worker(simple=True)
    assert isinstance(built, SimpleWorker), f"build_worker(simple=True) made a {type(built)}"
    names = [q.name for q in built.queues]
    assert names == ["default"], (
        f"build_worker() with no names listens on {names}: use [get_settings().queue_name]"
    )
    assert built.connection.ping() is True


@pytest.mark.e2e
def test_python_m_worker_burst_runs_the_queued_jobs(impl, tasks, queue, receipt):
    """`python -m lab.worker --burst` runs the jobs queued on 'default', then exits 0."""
    jobs = [queue.enqueue(tasks.send_fake_email, f"u{i}@example.com", 0.05) for i in range(2)]
    with start_worker("--burst", package=impl) as process:
        code = process.wait(30)
        output = process.output()
    assert code == 0, f"the worker exited {code}: {last_line(output)}\n{output[-2000:]}"
    assert "Worker listening on default" in output, (
        f"the worker said {last_line(output, 'listening on')!r}\n{output[-2000:]}"
    )
    for i, job in enumerate(jobs):
        assert job.get_status(refresh=True) == "finished", f"a job ended {job_outcome(job)}"
        assert job.return_value() == receipt(f"u{i}@example.com")
    assert "Starting to send email to u0@example.com" in output, (
        f"the job's log line is not in the worker's output:\n{output[-2000:]}"
    )


@pytest.mark.e2e
def test_simple_flag_and_queue_names(impl, tasks, redis_conn, receipt):
    """`python -m lab.worker emails --simple --burst` runs a SimpleWorker on the queue 'emails'."""
    queue = Queue("emails", connection=redis_conn)
    job = queue.enqueue(tasks.send_fake_email, "user@example.com", 0)
    with start_worker("emails", "--burst", "--simple", package=impl) as process:
        code = process.wait(30)
        output = process.output()
    assert code == 0, f"the worker exited {code}: {last_line(output)}\n{output[-2000:]}"
    assert "SimpleWorker listening on emails" in output, (
        f"the worker said {last_line(output, 'listening on')!r}\n{output[-2000:]}"
    )
    assert job.return_value(refresh=True) == receipt(), f"the job ended {job_outcome(job)}"


@pytest.mark.e2e
def test_unreachable_redis_gives_one_clear_line(impl, closed_port):
    """`python -m lab.worker` with Redis down exits 1 saying 'Cannot reach Redis', no traceback."""
    env = {"REDIS_URL": f"redis://127.0.0.1:{closed_port}/0"}
    with start_worker("--burst", package=impl, env=env) as process:
        code = process.wait(10)
        output = process.output()
    assert code == 1, f"the worker exited {code}, not 1: {last_line(output)}\n{output[-2000:]}"
    assert "Traceback" not in output, (
        f"the worker printed a traceback, ending {last_line(output)!r}\n{output[-2000:]}"
    )
    assert "Cannot reach Redis" in output
    assert "python -m lab redis start" in output


@pytest.mark.e2e
def test_end_to_end_the_original_curl_request(impl, redis_conn, receipt):
    """uvicorn + worker as real processes: the tutorial's request is answered at once.

    The job then finishes with the receipt, after EMAIL_DELAY."""
    env = {"EMAIL_DELAY": "0.5"}
    with start_api(package=impl, env=env) as api, start_worker(package=impl, env=env) as worker:
        with httpx.Client(base_url=api.url, timeout=5) as http:
            times, responses = [], []
            for _ in range(5):  # the first request pays for imports and connections
                start = time.monotonic()
                response = http.get("/send-email/user@example.com")
                times.append(time.monotonic() - start)
                assert response.status_code == 200
                responses.append(response)
        assert max(times) < 0.5, f"answers took {', '.join(f'{t:.2f}' for t in times)} s"
        print(f"\nenqueue endpoint: first {times[0] * 1000:.1f} ms, then", end=" ")
        print(", ".join(f"{t * 1000:.1f}" for t in times[1:]), "ms")
        # The first job: the worker runs them one after another, EMAIL_DELAY each.
        job = Job.fetch(responses[0].json()["job_id"], connection=redis_conn)
        assert wait_for_status(job) == "finished", f"the job ended {job_outcome(job)}"
        job.refresh()
        assert job.return_value() == receipt()
        took = (job.ended_at - job.started_at).total_seconds()
        assert took >= 0.5, f"the job took {took:.2f} s with EMAIL_DELAY=0.5"
        worker.kill()  # a graceful stop would wait for the next job's 0.5 s


@pytest.mark.e2e
def test_end_to_end_post_emails(impl, redis_conn, receipt):
    """In real uvicorn and worker processes, POST /emails queues a job that finishes."""
    with start_api(package=impl) as api, start_worker(package=impl):
        response = httpx.post(
            f"{api.url}/emails", json={"email": "user@example.com", "delay": 0.1}, timeout=5
        )
        assert response.status_code == 202, f"answered {response.status_code}: {response.text}"
        job = Job.fetch(response.json()["job_id"], connection=redis_conn)
        assert wait_for_status(job) == "finished", f"the job ended {job_outcome(job)}"
        assert job.return_value() == receipt()


def test_build_worker_without_names_uses_the_queue_name_setting(worker, redis_conn, monkeypatch):
    """build_worker() with no names listens on the queue the QUEUE_NAME setting names."""
    monkeypatch.setenv("QUEUE_NAME", "emails")
    get_settings.cache_clear()
    names = [q.name for q in worker.build_worker(connection=redis_conn).queues]
    assert names == ["emails"], (
        f"build_worker() with no names and QUEUE_NAME=emails listens on {names}:"
        " default to get_settings().queue_name, read when build_worker() runs"
    )

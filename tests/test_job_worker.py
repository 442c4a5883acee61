"""GET /jobs/{id} of a started job names its worker and says whether that worker is alive,
from its heartbeat (lab/support/api/job_state.py, worker_state()), without waiting for RQ's cleanup.

A real API and a real forking worker with JOB_HEARTBEAT=1 and JOB_LEASE=3: the worker's
heartbeats keep it alive through a long job; killed with SIGKILL (with its work horse), it is
reported dead within the lease while the job is still `started`. In this process, on the
reference API: a worker key that vanished, or that holds garbage, gives no 500.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from rq import Queue, Worker
from rq.utils import utcformat

from lab.support.config import get_settings
from lab.support.course.helpers import unexpected
from lab.support.servers.processes import descendants, poll, start_api, start_worker

ADDRESS = "user@example.com"
HEARTBEAT, LEASE = 1, 3
ENV = {"JOB_HEARTBEAT": str(HEARTBEAT), "JOB_LEASE": str(LEASE)}


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc to find the horse")
def test_a_busy_worker_is_alive_and_a_killed_one_is_not_within_its_lease(redis_conn):
    """A started job's worker stays alive through the job (heartbeats every JOB_HEARTBEAT s,
    watched for more than JOB_LEASE s); after kill -9 of the worker and its work horse,
    GET /jobs/{id} says worker_alive false within JOB_LEASE + margin, status still started."""
    with (
        start_api(package="solutions", env=ENV) as api,
        start_worker(package="solutions", env=ENV) as worker,
        httpx.Client(base_url=api.url, timeout=5) as http,
    ):
        posted = http.post("/emails", json={"email": ADDRESS, "delay": 12})
        assert posted.status_code == 202, unexpected(posted, 202, api)
        job_id = posted.json()["job_id"]

        def read() -> dict:
            answer = http.get(f"/jobs/{job_id}")
            assert answer.status_code == 200, unexpected(answer, 200, api)
            return answer.json()

        poll(read, lambda state: state["status"] == "started", "the job to start", 15)
        (name,) = [w.name for w in Worker.all(connection=redis_conn)]
        until = time.monotonic() + LEASE + 2  # longer than the lease: heartbeats renew it
        watched = poll(read, lambda _: time.monotonic() > until, "the watch to end", 30, 0.2)
        assert all(state["status"] == "started" for state in watched), watched[-1]
        assert {state["worker"] for state in watched} == {name}, watched[-1]
        assert all(state["worker_alive"] is True for state in watched), [
            (s["worker_alive"], s["seconds_since_heartbeat"], s.get("why")) for s in watched
        ]
        assert max(state["seconds_since_heartbeat"] for state in watched) <= LEASE

        horses = descendants(worker.process.pid)
        assert horses, f"the worker (pid {worker.process.pid}) has no work horse"
        killed = time.monotonic()
        worker.crash()  # kill -9 of the worker and its horse
        seen = poll(read, lambda state: state["worker_alive"] is False, "worker_alive false", 15)
        took = time.monotonic() - killed
        dead = seen[-1]
        assert took <= LEASE + 3, f"worker_alive became false {took:.1f} s after the kill"
        assert dead["status"] == "started", f"the job is {dead['status']}, not still started"
        assert dead["worker"] == name
        assert dead["seconds_since_heartbeat"] > LEASE
        assert f"JOB_LEASE={LEASE}" in dead["why"], dead["why"]


def started_job(redis_conn, worker_name: str = "w-test"):
    """A job of the API's queue marked started by `worker_name`, as RQ marks it."""
    job = Queue("default", connection=redis_conn).enqueue(
        "solutions.tasks.send_fake_email", ADDRESS, 0
    )
    with redis_conn.pipeline() as pipe:
        job.prepare_for_execution(worker_name, pipe)
        pipe.execute()
    return job


def heartbeat(redis_conn, name: str, ago: float) -> None:
    beat = datetime.now(timezone.utc) - timedelta(seconds=ago)
    redis_conn.hset(f"rq:worker:{name}", "last_heartbeat", utcformat(beat))


def state_of(reference_api, job) -> dict:
    answer = reference_api.get(f"/jobs/{job.id}")
    assert answer.status_code == 200, unexpected(answer, 200)
    return answer.json()


def test_alive_follows_the_heartbeat_and_the_lease(reference_api, redis_conn, monkeypatch):
    """worker_alive is true while the last heartbeat is at most JOB_LEASE s old (read at
    each request), false past it, with a sentence in `why`."""
    job = started_job(redis_conn)
    heartbeat(redis_conn, "w-test", ago=2)
    fresh = state_of(reference_api, job)
    assert fresh["worker"] == "w-test"
    assert fresh["worker_alive"] is True
    assert 1.5 < fresh["seconds_since_heartbeat"] < 10
    assert fresh["why"] is None
    monkeypatch.setenv("JOB_LEASE", "10")
    get_settings.cache_clear()
    heartbeat(redis_conn, "w-test", ago=30)
    stale = state_of(reference_api, job)
    assert stale["worker_alive"] is False
    assert 29 < stale["seconds_since_heartbeat"] < 40
    assert "JOB_LEASE=10" in stale["why"] and "AbandonedJobError" in stale["why"]


def test_a_vanished_worker_is_not_alive(reference_api, redis_conn):
    """A started job whose worker key Redis no longer holds: worker_alive false."""
    job = started_job(redis_conn, "w-gone")
    gone = state_of(reference_api, job)
    assert gone["worker"] == "w-gone"
    assert gone["worker_alive"] is False
    assert gone["seconds_since_heartbeat"] is None
    assert "no longer holds it" in gone["why"]


@pytest.mark.parametrize(
    "damage",
    ["garbage", "future", "no heartbeat", "not a hash"],
)
def test_a_damaged_worker_gives_null_not_a_500(reference_api, redis_conn, damage):
    """A worker key whose heartbeat cannot be read: worker_alive null, a sentence in `why`."""
    job = started_job(redis_conn, "w-bad")
    key = "rq:worker:w-bad"
    if damage == "garbage":
        redis_conn.hset(key, "last_heartbeat", b"\xff not a time")
    elif damage == "future":
        redis_conn.hset(key, "last_heartbeat", "2999-01-01T00:00:00.000000Z")
    elif damage == "no heartbeat":
        redis_conn.hset(key, "pid", "1")
    else:
        redis_conn.rpush(key, "x")
    state = state_of(reference_api, job)
    assert state["status"] == "started"
    assert state["worker"] == "w-bad"
    assert state["worker_alive"] is None
    assert state["seconds_since_heartbeat"] is None
    assert "w-bad" in state["why"] and "\n" not in state["why"]


def test_jobs_that_are_not_started_have_no_worker(reference_api, redis_conn):
    """A queued job: worker, worker_alive and seconds_since_heartbeat are null."""
    job = Queue("default", connection=redis_conn).enqueue(
        "solutions.tasks.send_fake_email", ADDRESS, 0
    )
    state = state_of(reference_api, job)
    assert state["status"] == "queued"
    worker_fields = [state[name] for name in ("worker", "worker_alive", "seconds_since_heartbeat")]
    assert worker_fields == [None, None, None], state


def test_the_fields_are_documented(reference_api):
    """JobState's worker fields are in the OpenAPI schema, with a description each."""
    schema = reference_api.get("/openapi.json").json()["components"]["schemas"]["JobState"]
    for field in ("worker", "worker_alive", "seconds_since_heartbeat"):
        assert schema["properties"][field].get("description"), field

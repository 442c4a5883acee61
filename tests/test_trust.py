"""Redis as a trust boundary (lab/support/trust.py): a job planted in Redis with a pickle runs
code in the worker, the API and the dashboard that load it; RQ_SERIALIZER=json, applied by the
provided code to every one of them, stops that, and the workbook still works under it. What
JSON does not stop: the worker calls whatever function a job names.

Real processes: `python -m solutions.worker`, the producer under uvicorn, `solutions.periodic`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest
from redis import Redis
from rq import Queue
from rq.job import Job

from lab.support.experiments.attacks import plant_json_job, plant_pickle_job
from lab.support.queueing.serializer import rq_serializer
from lab.support.servers.processes import Background, poll, start_api, start_worker
from solutions import tasks

KINDS = {"forking": (), "simple": ("--simple",)}
#: The dashboard's password here (it is off without one), and the login a client gives.
DASHBOARD = {"DASHBOARD_PASSWORD": "dashboard-password-of-the-trust-tests"}
LOGIN = ("admin", DASHBOARD["DASHBOARD_PASSWORD"])


def status_of(connection: Redis, job_id: str) -> str | None:
    raw = connection.hget(f"rq:job:{job_id}", "status")
    return raw.decode() if raw is not None else None


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("serializer", ["pickle", "json"])
def test_a_planted_pickle_runs_in_a_worker_only_under_pickle(
    redis_conn, tmp_path, serializer, kind
):
    """A worker that takes the planted job creates the marker file under pickle (the job
    even finishes); under json the job fails to load (DeserializationError, RQ's one logged
    traceback), the marker is not created and the worker goes on to the next job."""
    marker = tmp_path / "created-by-the-pickle"
    planted = plant_pickle_job(redis_conn, "default", marker)
    queue = Queue("default", connection=redis_conn, serializer=rq_serializer(serializer))
    after = queue.enqueue(tasks.send_fake_email, "a@example.com", 0)
    env = {"RQ_SERIALIZER": serializer}
    with start_worker("--burst", *KINDS[kind], package="solutions", env=env) as worker:
        assert worker.wait(60) == 0, worker.output()
        said = worker.output()
    assert after.get_status(refresh=True) == "finished", said
    if serializer == "pickle":
        assert marker.exists(), f"the pickle did not run in the worker:\n{said}"
        assert status_of(redis_conn, planted) == "finished"
        assert "Traceback" not in said
    else:
        assert not marker.exists(), "a pickle ran in a worker under RQ_SERIALIZER=json"
        assert status_of(redis_conn, planted) == "failed"
        # The workbook's one line for a poison job: the error and its cause, no traceback.
        poison = "Poison job: the worker cannot load or run it (DeserializationError, from "
        assert said.count(poison) == 1, said
        assert "Traceback" not in said, said


@pytest.mark.parametrize("serializer", ["pickle", "json"])
def test_a_planted_pickle_runs_in_the_api_only_under_pickle(redis_conn, tmp_path, serializer):
    """Under pickle, the dashboard's list of jobs runs a pickle planted in a job's meta, and
    GET /jobs/{id} one planted in its function's arguments. Under json: no marker, and
    GET /jobs/{id} answers 422, a job the API cannot read."""
    in_meta, in_data = tmp_path / "by-meta", tmp_path / "by-data"
    by_meta = plant_pickle_job(redis_conn, "default", in_meta, field="meta")
    by_data = plant_pickle_job(redis_conn, "default", in_data)
    env = {"RQ_SERIALIZER": serializer, **DASHBOARD}
    with start_api(package="solutions", env=env) as api:
        listed = httpx.get(f"{api.url}/dashboard/jobs/json", timeout=10, auth=LOGIN)
        assert listed.status_code == 200, listed.text
        assert in_meta.exists() is (serializer == "pickle"), "the dashboard's list of jobs"
        answer = httpx.get(f"{api.url}/jobs/{by_data}", timeout=10)
        assert in_data.exists() is (serializer == "pickle"), "GET /jobs/{id}"
        for job_id in (by_meta, by_data):
            page = httpx.get(f"{api.url}/dashboard/job/{job_id}", timeout=10, auth=LOGIN)
            assert page.status_code in (200, 500), page.text
        said = api.output()
    if serializer == "pickle":
        assert answer.status_code == 200 and answer.json()["task"] == "builtins.str", answer.text
    else:
        assert answer.status_code == 422, answer.text
        assert by_data in answer.json()["detail"], answer.text
        assert not in_meta.exists() and not in_data.exists(), said


def test_json_does_not_stop_a_job_naming_any_function(redis_conn, tmp_path):
    """A JSON job naming os.mkdir, with JSON arguments, runs: JSON stops code in the data,
    not the choice of the function. The boundary is who can write to Redis."""
    marker = tmp_path / "made-by-os-mkdir"
    job_id = plant_json_job(redis_conn, "default", marker)
    with start_worker("--burst", package="solutions", env={"RQ_SERIALIZER": "json"}) as worker:
        assert worker.wait(60) == 0, worker.output()
    assert marker.is_dir()
    assert status_of(redis_conn, job_id) == "finished"


def json_job(redis_conn: Redis, job_id: str) -> Job:
    return Job.fetch(job_id, connection=redis_conn, serializer="json")


def test_the_workbook_runs_end_to_end_under_json(redis_conn):
    """RQ_SERIALIZER=json for the API and a worker with the scheduler: an email finishes with
    its result, a newsletter with its progress, a scheduled email, a chain of dependent jobs;
    retry and cancel work; GET /stats, /metrics and the dashboard's pages answer. Every job
    in Redis is JSON."""
    env = {"RQ_SERIALIZER": "json"}
    with (
        start_api(package="solutions", env={**env, **DASHBOARD}) as api,
        start_worker("--with-scheduler", package="solutions", env=env) as worker,
        httpx.Client(base_url=api.url, timeout=10, auth=LOGIN) as client,
    ):

        def post(path: str, body: dict) -> dict:
            answer = client.post(path, json=body)
            assert answer.status_code == 202, answer.text
            return answer.json()

        email = post("/emails", {"email": "a@example.com", "delay": 0})["job_id"]
        newsletter = post("/newsletters", {"addresses": ["a@example.com"] * 3, "delay": 0})
        soon = post("/emails", {"email": "b@example.com", "delay": 0, "send_in": 1})["job_id"]
        later = post("/emails", {"email": "c@example.com", "send_in": 3600})["job_id"]
        steps = post("/repositories", {"name": "demo", "delay": 0, "fail_step": "webhooks"})
        steps = steps["jobs"]

        def state(job_id: str) -> dict:
            answer = client.get(f"/jobs/{job_id}")
            assert answer.status_code == 200, answer.text
            return answer.json()

        ended = ("finished", "failed", "canceled")
        waited = [email, newsletter["job_id"], soon, *steps.values()]
        poll(
            lambda: [state(job_id)["status"] for job_id in waited],
            lambda now: all(status in ended for status in now),
            "every job to end",
            30,
        )
        assert state(email)["result"] == "Task complete: Email sent to a@example.com"
        letter = state(newsletter["job_id"])
        assert letter["result"] == {"sent": 3} and letter["progress"] == {"done": 3, "total": 3}, (
            letter
        )
        assert state(soon)["status"] == "finished"
        assert [state(steps[name])["status"] for name in ("create", "files", "webhooks")] == [
            "finished",
            "finished",
            "failed",
        ]
        assert client.post(f"/jobs/{steps['webhooks']}/retry").status_code == 200
        canceled = client.post(f"/jobs/{later}/cancel")
        assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
        for path in ("/stats", "/metrics", "/dashboard/jobs/json", f"/dashboard/job/{email}"):
            answer = client.get(path)
            assert answer.status_code == 200, f"{path}: {answer.status_code} {answer.text[:300]}"
        assert "Traceback" not in api.output(), api.output()
        assert "DeserializationError" not in worker.output(), worker.output()
    for key in redis_conn.scan_iter("rq:job:*"):
        if key.count(b":") == 2:  # a job's hash, not rq:job:<id>:dependents and the like
            json_job(redis_conn, key.decode().rpartition(":")[2]).func_name  # noqa: B018


def test_the_cron_scheduler_writes_json_under_json(redis_conn):
    """RQ 3.0's cron scheduler makes its own Queue for each job: under RQ_SERIALIZER=json the
    provided command line makes it write JSON too, so a JSON worker can run its jobs."""
    command = ["-m", "solutions.periodic", "--every", "1"]
    with Background("cron", [sys.executable, *command], {"RQ_SERIALIZER": "json"}) as cron:
        queue = Queue("default", connection=redis_conn)
        poll(lambda: queue.count, lambda count: count > 0, "a digest job", 20)
        cron.stop()
    job = json_job(redis_conn, queue.get_job_ids()[0])
    assert job.func_name == "solutions.periodic.send_digest", job.func_name


def test_rq_serializer_names_rqs_own_serializers():
    assert rq_serializer("json").loads(rq_serializer("json").dumps([1])) == [1]
    assert rq_serializer("pickle").loads(rq_serializer("pickle").dumps(Path("x"))) == Path("x")

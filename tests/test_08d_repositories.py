"""Step 08d: lab/repositories.py (queue_repository: a chain of jobs with depends_on) and
POST /repositories, run by a real worker process."""

from __future__ import annotations

import inspect
import time

import pytest
from fastapi.testclient import TestClient
from rq import Queue
from rq.job import Job

from lab.support.course.helpers import unexpected
from lab.support.queueing.jobs import job_outcome, wait_for_status
from lab.support.servers.processes import start_worker

#: The steps, in the order they run, and the task of each.
TASKS = {
    "create": "create_repository",
    "files": "add_default_files",
    "webhooks": "set_up_webhooks",
    "cleanup": "clean_up",
}
WHY_FAILED = "will not run unless that one is retried and finishes"


def arguments(job: Job) -> dict:
    """The arguments `job`'s function receives, by name, defaults included."""
    try:
        bound = inspect.signature(job.func).bind(*job.args, **job.kwargs)
    except TypeError as exc:
        raise AssertionError(
            f"the job {job.func_name} gets {job.args} {job.kwargs}, which do not fit it: {exc}"
        ) from None
    bound.apply_defaults()
    return dict(bound.arguments)


def post(client: TestClient, queue: Queue, body: dict) -> dict[str, Job]:
    """POST /repositories `body`: its jobs by step, once it answered 202."""
    response = client.post("/repositories", json=body)
    assert response.status_code == 202, unexpected(response, 202)
    ids = response.json()["jobs"]
    assert list(ids) == list(TASKS), f"the answer's jobs are {list(ids)}, not {list(TASKS)}"
    return {step: Job.fetch(job_id, connection=queue.connection) for step, job_id in ids.items()}


def statuses(jobs: dict[str, Job]) -> dict[str, str]:
    return {step: job.get_status(refresh=True).value for step, job in jobs.items()}


def all_run(queue: Queue, repositories) -> None:
    """Return once the worker has taken every job queued so far: a job queued now, behind
    them, has finished (one worker, one queue: first in, first out)."""
    marker = queue.enqueue(repositories.clean_up, "marker")
    assert wait_for_status(marker, "finished", "failed", timeout=10) == "finished", (
        f"a job queued after the chain ended {job_outcome(marker)}"
    )


# --- queue_repository(): four jobs, chained -------------------------------------------------


def test_queue_repository_returns_the_four_steps_on_the_queue(repositories, redis_conn, impl):
    """queue_repository(queue, name, delay) returns its four jobs, create to cleanup, on `queue`."""
    queue = Queue("repos", connection=redis_conn)
    jobs = repositories.queue_repository(queue, "my-project", 0.25)
    assert isinstance(jobs, dict), f"queue_repository() returned {type(jobs).__name__}, not a dict"
    assert list(jobs) == list(TASKS), f"its keys are {list(jobs)}, not {list(TASKS)} in order"
    for step, job in jobs.items():
        assert isinstance(job, Job), f"jobs[{step!r}] is {job!r}, not the Job of queue.enqueue()"
        job = Job.fetch(job.id, connection=redis_conn)
        task = f"{impl}.repositories.{TASKS[step]}"
        assert job.func_name == task, f"the {step} job runs {job.func_name}, not {task}"
        assert job.origin == "repos", (
            f"the {step} job is on the queue {job.origin!r}: queue the jobs on the queue given"
        )
        expected = {"name": "my-project"}
        if step != "cleanup":
            expected["delay"] = 0.25
        got = arguments(job)
        assert {key: got.get(key) for key in expected} == expected, (
            f"the {step} job gets {got}: pass it the name and, but for cleanup, the delay"
        )


def test_each_step_waits_for_the_one_before(repositories, queue):
    """files waits for create, webhooks and cleanup for files (cleanup even if files fails)."""
    made = repositories.queue_repository(queue, "demo", 0)
    jobs = {step: Job.fetch(job.id, connection=queue.connection) for step, job in made.items()}
    after = {"create": [], "files": ["create"], "webhooks": ["files"], "cleanup": ["files"]}
    for step, job in jobs.items():
        waits = [{j.id: s for s, j in jobs.items()}.get(i, i) for i in job.dependency_ids]
        assert waits == after[step], (
            f"the {step} job depends on {waits or 'nothing'}, not {after[step] or 'nothing'}:"
            " depends_on=<the job before>"
        )
    tolerant = {step: bool(job.allow_dependency_failures) for step, job in jobs.items()}
    assert tolerant == {"create": False, "files": False, "webhooks": False, "cleanup": True}, (
        f"the jobs that run even if their dependency failed: {tolerant}; only cleanup should,"
        " with depends_on=Dependency(jobs=[files], allow_failure=True)"
    )
    assert statuses(jobs) == {
        "create": "queued",
        "files": "deferred",
        "webhooks": "deferred",
        "cleanup": "deferred",
    }, f"the jobs are {statuses(jobs)}: only create is queued, the others wait"
    assert queue.job_ids == [jobs["create"].id], "only the create job should wait on the queue"


@pytest.mark.parametrize("fail_step", ["create", "files", "webhooks", None])
def test_fail_step_makes_that_step_fail(repositories, queue, fail_step):
    """queue_repository(..., fail_step=s) passes fail=True to the step s alone."""
    jobs = repositories.queue_repository(queue, "demo", 0, fail_step)
    told = {step: arguments(job).get("fail") for step, job in jobs.items() if step != "cleanup"}
    expected = {step: step == fail_step for step in told}
    assert told == expected, (
        f"with fail_step={fail_step!r} the steps get fail={told}: pass fail_step == <its name>"
    )


# --- POST /repositories, with a worker ------------------------------------------------------


@pytest.mark.e2e
def test_post_answers_at_once_and_a_worker_runs_the_steps_in_order(impl, client, queue):
    """POST /repositories answers 202 at once with four job ids; a worker runs them in order."""
    delay = 0.15
    with start_worker("--simple", package=impl):
        started = time.monotonic()
        jobs = post(client, queue, {"name": "demo", "delay": delay})
        took = time.monotonic() - started
        waiting = jobs["webhooks"].get_status(refresh=True).value
        assert waiting == "deferred", (
            f"just after the answer the webhooks job is {waiting}: the API should answer at"
            " once, and the worker run the chain after"
        )
        wait_for_status(jobs["cleanup"], timeout=10)
        wait_for_status(jobs["webhooks"], timeout=10)
    for step, job in jobs.items():
        job.refresh()
        assert job.get_status() == "finished", f"{step} ended {job_outcome(job)}"
    assert jobs["cleanup"].return_value() == "clean up: removed the working copy of demo"
    assert took < 3 * delay, (
        f"POST /repositories took {took:.2f} s to answer, as long as the three {delay} s steps:"
        " queue the jobs and return, the worker runs them"
    )
    for before, step in [("create", "files"), ("files", "webhooks"), ("files", "cleanup")]:
        gap = (jobs[step].started_at - jobs[before].ended_at).total_seconds()
        assert gap >= 0, f"{step} started {-gap:.3f} s before {before} ended"


@pytest.mark.e2e
def test_a_failed_step_leaves_the_next_deferred_and_cleanup_runs(
    impl, client, queue, repositories, run_queued_jobs
):
    """With fail_step "files": create finishes, files fails, webhooks stays deferred, cleanup runs.

    GET /jobs/{webhooks} says what it waits for; a retry of files that fails again leaves it so."""
    with start_worker("--simple", package=impl) as worker:
        jobs = post(client, queue, {"name": "demo", "delay": 0.05, "fail_step": "files"})
        wait_for_status(jobs["cleanup"], timeout=10)
        all_run(queue, repositories)
        expected = {
            "create": "finished",
            "files": "failed",
            "webhooks": "deferred",
            "cleanup": "finished",
        }
        assert statuses(jobs) == expected, f"the steps are {statuses(jobs)}, not {expected}"
        state = client.get(f"/jobs/{jobs['webhooks'].id}").json()
        files = {
            "id": jobs["files"].id,
            "task": f"{impl}.repositories.add_default_files",
            "status": "failed",
        }
        assert state["waiting_for"] == [files], f"GET /jobs/{{webhooks}} answered {state}"
        assert WHY_FAILED in state["why"], f"GET /jobs/{{webhooks}} says why: {state['why']!r}"
        worker.kill()  # so that the retried job waits on the queue while it is looked at

    cleaned = jobs["cleanup"].latest_result().created_at
    response = client.post(f"/jobs/{jobs['files'].id}/retry")
    assert response.status_code == 200, unexpected(response, 200)
    why = client.get(f"/jobs/{jobs['webhooks'].id}").json()["why"]
    assert "is queued: this job runs once it finishes" in why, f"after the retry: {why!r}"
    run_queued_jobs(queue)  # files fails again: its fail flag is among its arguments
    assert statuses(jobs) == expected, f"after the retry failed: {statuses(jobs)}"
    assert jobs["cleanup"].latest_result().created_at == cleaned, "cleanup ran a second time"


def test_when_create_fails_no_later_step_runs(impl, client, queue, run_queued_jobs):
    """With fail_step "create": files, webhooks and cleanup all stay deferred."""
    jobs = post(client, queue, {"name": "demo", "delay": 0.05, "fail_step": "create"})
    run_queued_jobs(queue)  # until nothing is left on the queue
    expected = {
        "create": "failed",
        "files": "deferred",
        "webhooks": "deferred",
        "cleanup": "deferred",
    }
    assert statuses(jobs) == expected, f"the steps are {statuses(jobs)}, not {expected}"
    why = client.get(f"/jobs/{jobs['files'].id}").json()["why"]
    assert WHY_FAILED in why, f"GET /jobs/{{files}} says why: {why!r}"


# --- what POST /repositories refuses ---------------------------------------------------------

NAME = {"name": "demo"}
BAD = {
    "name-missing": {"delay": 0.1},
    "name-empty": {"name": ""},
    "name-a-path": {"name": "../x"},
    "name-101-characters": {"name": "a" * 101},
    "name-not-a-string": {"name": 42},
    "delay-negative": {**NAME, "delay": -1},
    "delay-over-30": {**NAME, "delay": 31},
    "delay-a-string": {**NAME, "delay": "1"},
    "delay-NaN": '{"name": "demo", "delay": NaN}',
    "fail_step-unknown": {**NAME, "fail_step": "other"},
    "no-body": "",
    "not-json": "name=demo",
}


@pytest.mark.parametrize("body", list(BAD.values()), ids=list(BAD))
def test_a_bad_request_is_refused_and_queues_nothing(client, queue, body):
    """POST /repositories answers 422 to a bad name, delay, fail_step or body; 202 to a good one."""
    if isinstance(body, str):
        headers = {"Content-Type": "application/json"}
        response = client.post("/repositories", content=body, headers=headers)
    else:
        response = client.post("/repositories", json=body)
    assert response.status_code == 422, unexpected(response, 422)
    assert queue.count == 0 and queue.deferred_job_registry.count == 0, "a job was queued"
    good = client.post("/repositories", json={"name": "a" * 100, "delay": 0})
    assert good.status_code == 202, f"a good request after it: {unexpected(good, 202)}"


def test_post_with_redis_down_is_503_saying_what_to_do(api_client, closed_port):
    """With Redis down, POST /repositories answers 503 JSON that says how to start Redis."""
    down = api_client(f"redis://127.0.0.1:{closed_port}/0")
    response = down.post("/repositories", json={"name": "demo"})
    assert response.status_code == 503, unexpected(response, 503)
    assert "python -m lab redis start" in response.json()["detail"], response.text[:300]

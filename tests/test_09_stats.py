"""Step 09: lab/stats.py (queue_stats, worker_stats) and GET /stats, and GET /metrics built on
them, compared with what RQ itself reports, in process and over HTTP with real processes."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from rq import Queue, Worker

from lab.support.course.helpers import unexpected
from lab.support.queueing.jobs import wait_for_status
from lab.support.queueing.monitor import STATUSES, rq_counts
from lab.support.servers.processes import poll, start_api, start_worker

ADDRESS = "user@example.com"
#: A heartbeat every second (WORKER_TTL - 15) while idle, so that a stopped one shows fast.
FAST_HEARTBEAT = {"WORKER_TTL": "16"}


def counts_of(answer: dict) -> dict[str, dict[str, int]]:
    """GET /stats's counts by queue name."""
    return {q["name"]: {status: q[status] for status in STATUSES} for q in answer["queues"]}


def metric_samples(text: str) -> dict[str, list]:
    """GET /metrics's text, read with prometheus_client's own parser: samples by family."""
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def fill(queue: Queue, tasks, run_queued_jobs) -> dict[str, dict[str, int]]:
    """Jobs in every state but started, a different number in each: on the app's queue 5
    queued, 2 scheduled, 1 deferred, 3 canceled; on "high" 4 finished and 6 failed."""
    parent = queue.enqueue(tasks.send_fake_email, ADDRESS, 0)
    for _ in range(4):
        queue.enqueue(tasks.send_fake_email, ADDRESS, 0)
    for minutes in (5, 10):
        queue.enqueue_in(timedelta(minutes=minutes), tasks.send_fake_email, ADDRESS, 0)
    queue.enqueue(tasks.send_fake_email, ADDRESS, 0, depends_on=parent)
    for _ in range(3):
        queue.enqueue(tasks.send_fake_email, ADDRESS, 0).cancel()
    high = Queue("high", connection=queue.connection)
    for delay in (0, 0, 0, 0, -1, -1, -1, -1, -1, -1):  # a negative delay raises ValueError
        high.enqueue(tasks.send_fake_email, ADDRESS, delay)
    run_queued_jobs(high)
    zero = dict.fromkeys(STATUSES, 0)
    return {
        queue.name: {**zero, "queued": 5, "scheduled": 2, "deferred": 1, "canceled": 3},
        "high": {**zero, "finished": 4, "failed": 6},
        "low": zero,
    }


def test_stats_counts_each_status_as_rq_does(client, queue, tasks, run_queued_jobs):
    """GET /stats counts each queue's jobs by status as RQ's queue and registries do."""
    expected = fill(queue, tasks, run_queued_jobs)
    response = client.get("/stats")
    assert response.status_code == 200, unexpected(response, 200)
    answer = response.json()
    got = counts_of(answer)
    assert list(got) == [queue.name, "high", "low"], f"GET /stats lists the queues {list(got)}"
    for name, counts in got.items():
        rq_says = rq_counts(Queue(name, connection=queue.connection))
        assert rq_says == expected[name], f"the test's set-up of {name!r} went wrong: {rq_says}"
        assert counts == rq_says, f"queue {name!r}: GET /stats counts {counts}, RQ {rq_says}"
    assert answer["finished_last_minute"] == 4, (
        f"4 jobs finished just now; finished_last_minute is {answer['finished_last_minute']}"
    )


def test_the_oldest_queued_age_is_that_of_the_job_at_the_head(stats, queue, tasks):
    """queue_stats() ages the job at the head of the queue (the next to run) against `now`."""
    empty = stats.queue_stats(queue, datetime.now(timezone.utc))
    assert empty["oldest_queued_age"] is None, f"an empty queue's age is {empty}"
    first = queue.create_job(tasks.send_fake_email, args=(ADDRESS, 0))
    time.sleep(0.05)  # created, then queued a moment later (as a job whose time came)
    queue.enqueue_job(first)
    time.sleep(0.05)
    queue.enqueue(tasks.send_fake_email, ADDRESS, 0)
    first.refresh()
    now = first.enqueued_at + timedelta(seconds=10.25)
    age = stats.queue_stats(queue, now)["oldest_queued_age"]
    assert age == pytest.approx(10.25, abs=1e-3), (
        f"the head job was queued 10.25 s before `now`; oldest_queued_age is {age} (the"
        " seconds, total_seconds(), from the head job's enqueued_at to the `now` passed in)"
    )
    urgent = queue.enqueue(tasks.send_fake_email, ADDRESS, 0, at_front=True)
    urgent.refresh()
    age = stats.queue_stats(queue, urgent.enqueued_at + timedelta(seconds=3))["oldest_queued_age"]
    assert age == pytest.approx(3.0, abs=1e-3), (
        f"a job put at the front is the head; 3 s after it was queued the age is {age}"
    )


def test_metrics_carry_the_stats_numbers_for_prometheus(client, queue, tasks, run_queued_jobs):
    """GET /metrics, read by prometheus_client's parser, holds RQ's counts by queue and status."""
    expected = fill(queue, tasks, run_queued_jobs)
    response = client.get("/metrics")
    assert response.status_code == 200, unexpected(response, 200)
    assert response.headers["content-type"].startswith("text/plain"), response.headers
    samples = metric_samples(response.text)
    jobs = {(s.labels["queue"], s.labels["status"]): s.value for s in samples["rq_jobs"]}
    for name, counts in expected.items():
        rq_says = rq_counts(Queue(name, connection=queue.connection))
        assert rq_says == counts, f"the test's set-up of {name!r} went wrong: {rq_says}"
        for status in STATUSES:
            assert jobs[(name, status)] == rq_says[status], (
                f"rq_jobs{{queue={name!r},status={status!r}}} is {jobs.get((name, status))};"
                f" RQ counts {rq_says[status]}"
            )
    oldest = {s.labels["queue"]: s.value for s in samples["rq_oldest_queued_job_age_seconds"]}
    assert oldest[queue.name] > 0 and oldest["high"] == 0, oldest
    (finished,) = samples["rq_jobs_finished_last_minute"]
    assert finished.value == 4, f"rq_jobs_finished_last_minute is {finished.value}, not 4"


@pytest.mark.e2e
def test_a_real_worker_idle_then_busy_in_worker_stats_stats_and_metrics(stats, queue, tasks, impl):
    """worker_stats(), /stats and /metrics over HTTP give a real worker's state, job and age."""
    with (
        start_api(package=impl) as api,
        start_worker("--simple", package=impl, env=FAST_HEARTBEAT),
    ):
        (worker,) = poll(
            lambda: Worker.all(connection=queue.connection),
            lambda workers: [w.get_state() for w in workers] == ["idle"],
            "the worker to register and wait for jobs",
            timeout=10,
        )[-1]
        idle = stats.worker_stats(worker, worker.last_heartbeat + timedelta(seconds=7.25))
        assert idle["name"] == worker.name and idle["queues"] == [queue.name], idle
        assert idle["state"] == "idle" and idle["current_job"] is None, idle
        assert idle["seconds_since_heartbeat"] == pytest.approx(7.25, abs=1e-3), (
            f"7.25 s after the last heartbeat, seconds_since_heartbeat is {idle}"
        )
        for _ in range(3):
            queue.enqueue(tasks.send_fake_email, ADDRESS, 0)
        slow = queue.enqueue(tasks.send_fake_email, ADDRESS, 0.8)
        queue.enqueue(tasks.send_fake_email, ADDRESS, 0)  # waits behind the slow one
        wait_for_status(slow, "started", "finished", "failed", timeout=10)
        answer = httpx.get(f"{api.url}/stats", timeout=10).json()
        metrics = metric_samples(httpx.get(f"{api.url}/metrics", timeout=10).text)
        rq_says = rq_counts(queue)
        assert counts_of(answer)[queue.name] == rq_says, (answer, rq_says)
        assert rq_says["started"] == 1 and rq_says["queued"] == 1 and rq_says["finished"] == 3
        (busy,) = answer["workers"]
        assert busy["state"] == "busy" and busy["current_job"] == slow.id, (
            f"while it runs job {slow.id} the worker's numbers are {busy}"
        )
        assert answer["finished_last_minute"] == 3, answer
        assert answer["queues"][0]["oldest_queued_age"] > 0, answer["queues"][0]
        states = {s.labels["state"]: s.value for s in metrics["rq_workers"]}
        assert states["busy"] == 1 and states["idle"] == 0, states


def test_stats_and_metrics_with_redis_down_are_503_saying_what_to_do(api_client, closed_port):
    """With Redis down, GET /stats and GET /metrics answer 503 JSON that says how to start it."""
    down = api_client(f"redis://127.0.0.1:{closed_port}/0")
    for path in ("/stats", "/metrics"):
        response = down.get(path)
        assert response.status_code == 503, unexpected(response, 503)
        assert "python -m lab redis start" in response.json()["detail"], response.text[:300]


def test_the_openapi_schema_describes_stats_and_metrics(client):
    """The OpenAPI schema documents GET /stats (its fields and 503) and GET /metrics' format."""
    schema = client.get("/openapi.json").json()
    stats = schema["paths"]["/stats"]["get"]["responses"]
    assert "503" in stats, f"GET /stats documents {sorted(stats)}"
    fields = schema["components"]["schemas"]["QueueStats"]["properties"]
    assert set(STATUSES) <= set(fields) and "oldest_queued_age" in fields, sorted(fields)
    metrics = schema["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert any(kind.startswith("text/plain") for kind in metrics), metrics

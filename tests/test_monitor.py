"""What GET /stats and GET /metrics are built on besides the learner's functions (provided
code: lab/support/queueing/monitor.py and metrics.py), on the reference producer: the jobs finished
lately, damaged keys reported instead of failing the answer, and the collector's names.

None of these tests checks learner code, so none is an exercise test: they run on
solutions/ whatever --impl says."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from prometheus_client.parser import text_string_to_metric_families
from redis.exceptions import ConnectionError, ResponseError
from rq import Queue
from rq.utils import utcformat

from lab.support.api.metrics import RQCollector
from lab.support.queueing.monitor import damage, finished_since
from solutions import tasks

ADDRESS = "user@example.com"


def samples(text: str) -> dict[str, list]:
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def test_finished_since_counts_by_when_each_job_ended(queue, run_queued_jobs):
    for _ in range(3):
        queue.enqueue(tasks.send_fake_email, ADDRESS, 0)
    run_queued_jobs(queue)
    ids = queue.finished_job_registry.get_job_ids()
    old = datetime.now(timezone.utc) - timedelta(minutes=5)
    queue.connection.hset(f"rq:job:{ids[0]}", "ended_at", utcformat(old))
    since = datetime.now(timezone.utc) - timedelta(minutes=1)
    assert finished_since([queue], since) == 2, "a job that ended 5 minutes ago was counted"
    assert finished_since([queue], old - timedelta(seconds=1)) == 3


def test_a_damaged_job_at_the_head_is_reported_and_the_rest_answered(reference_api, queue):
    job = queue.enqueue(tasks.send_fake_email, ADDRESS, 0)
    queue.enqueue(tasks.send_fake_email, ADDRESS, 0)
    queue.connection.hset(job.key, "enqueued_at", "not a time")
    response = reference_api.get("/stats")
    assert response.status_code == 200, response.text[:500]
    answer = response.json()
    (mine,) = [q for q in answer["queues"] if q["name"] == queue.name]
    assert mine["queued"] == 2 and mine["oldest_queued_age"] is None, mine
    (problem,) = answer["problems"]
    assert job.id in problem and "ValueError" in problem and queue.name in problem, problem
    (unreadable,) = samples(reference_api.get("/metrics").text)["rq_unreadable_keys"]
    assert unreadable.value == 1


def test_a_damaged_worker_key_is_reported_and_left_out(reference_api, redis_conn):
    redis_conn.sadd("rq:workers", "rq:worker:damaged")
    redis_conn.hset(
        "rq:worker:damaged",
        mapping={"queues": "default", "state": "idle", "last_heartbeat": "garbage"},
    )
    response = reference_api.get("/stats")
    assert response.status_code == 200, response.text[:500]
    answer = response.json()
    assert answer["workers"] == [], answer["workers"]
    (problem,) = answer["problems"]
    assert "rq:worker:damaged" in problem and "damaged" in problem, problem


def test_redis_down_is_not_mistaken_for_a_damaged_key():
    assert not damage(ConnectionError("refused")), "Redis down must stay a 503"
    assert damage(ResponseError("WRONGTYPE")) and damage(ValueError("bad date"))


def test_the_collector_names_and_labels_follow_prometheus_conventions():
    stats = {
        "at": datetime.now(timezone.utc),
        "queues": [
            {
                "name": "emails",
                "queued": 4,
                "started": 1,
                "finished": 9,
                "failed": 2,
                "scheduled": 3,
                "deferred": 0,
                "canceled": 1,
                "oldest_queued_age": 12.5,
            },
            {
                "name": "low",
                "queued": 0,
                "started": 0,
                "finished": 0,
                "failed": 0,
                "scheduled": 0,
                "deferred": 0,
                "canceled": 0,
                "oldest_queued_age": None,
            },
        ],  # fmt: skip
        "workers": [
            {
                "name": "w1",
                "queues": ["emails"],
                "state": "busy",
                "current_job": "j",
                "seconds_since_heartbeat": 0.5,
            },
            {
                "name": "w2",
                "queues": ["emails"],
                "state": "idle",
                "current_job": None,
                "seconds_since_heartbeat": None,
            },
        ],  # fmt: skip
        "finished_last_minute": 7,
    }
    families = {f.name: f for f in RQCollector(lambda: stats).collect()}
    assert set(families) == {
        "rq_jobs", "rq_oldest_queued_job_age_seconds", "rq_workers",
        "rq_worker_heartbeat_age_seconds", "rq_jobs_finished_last_minute", "rq_unreadable_keys",
    }  # fmt: skip
    assert all(f.type == "gauge" for f in families.values())
    jobs = {(s.labels["queue"], s.labels["status"]): s.value for s in families["rq_jobs"].samples}
    assert len(jobs) == 14 and jobs[("emails", "finished")] == 9 and jobs[("low", "queued")] == 0
    oldest = {
        s.labels["queue"]: s.value for s in families["rq_oldest_queued_job_age_seconds"].samples
    }
    assert oldest == {"emails": 12.5, "low": 0.0}
    states = {s.labels["state"]: s.value for s in families["rq_workers"].samples}
    assert states == {"started": 0, "suspended": 0, "busy": 1, "idle": 1}
    beats = [(s.labels, s.value) for s in families["rq_worker_heartbeat_age_seconds"].samples]
    assert beats == [({"worker": "w1"}, 0.5)], "a worker with no heartbeat has no sample"


def test_metrics_scrapes_twice_without_a_duplicate_registration(reference_api, queue):
    queue.enqueue(tasks.send_fake_email, ADDRESS, 0)
    first, second = reference_api.get("/metrics"), reference_api.get("/metrics")
    assert first.status_code == second.status_code == 200, second.text[:300]
    (sample,) = [
        s for s in samples(second.text)["rq_jobs"]
        if s.labels == {"queue": queue.name, "status": "queued"}
    ]  # fmt: skip
    assert sample.value == 1


def test_stats_reads_every_served_queue_without_changing_them(reference_api, queue: Queue):
    """GET /stats lists the app's queue, high and low, and reading leaves their jobs alone."""
    queue.enqueue(tasks.send_fake_email, ADDRESS, 0)
    before = {key: queue.connection.type(key) for key in queue.connection.keys("rq:*")}
    names = [q["name"] for q in reference_api.get("/stats").json()["queues"]]
    after = {key: queue.connection.type(key) for key in queue.connection.keys("rq:*")}
    assert names == [queue.name, "high", "low"], names
    assert before == after, "GET /stats changed what Redis holds"

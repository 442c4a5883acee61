"""`python -m lab bench abandoned` (provided): a quick real run of what the crash lab's
closing figures come from - how fast a killed worker's job is failed or retried, and what
one maintenance run costs - and the Redis it leaves behind. Provided code: it runs
solutions/ whatever --impl says, and uses no learner fixture."""

from __future__ import annotations

import json

from lab.support.experiments.bench.abandoned import QUEUE
from lab.support.experiments.harness import bench_queue, reset

# --quick's settings: JOB_LEASE=6, MAINTENANCE_INTERVAL=3; a worker's start is the rest.
FOUND_WITHIN = 6 + 3 + 4


def test_a_killed_workers_job_is_failed_or_run_again_within_lease_and_interval(
    tmp_path, redis_conn, python_m
):
    """kill -9 of a busy forking worker (its horse too): without Retry the job is failed,
    with Retry(max=1) it runs again, each within JOB_LEASE + MAINTENANCE_INTERVAL (+ margin);
    nothing of the bench's queue is left in the database."""
    out = tmp_path / "abandoned.json"
    result = python_m(
        "lab", "bench", "abandoned", "--quick", "--only", "abandoned", "--json", str(out),
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = json.loads(out.read_text())["abandoned"]
    assert [row["retry"] for row in rows] == [False, True]
    failed, retried = rows
    assert failed["status"] == "failed", failed
    assert 0 < failed["failed_after_s"] <= FOUND_WITHIN, failed
    assert retried["status"] in ("queued", "started"), retried
    assert 0 < retried["ran_again_after_s"] <= FOUND_WITHIN, retried
    left = [key.decode() for key in redis_conn.keys(f"*{QUEUE}*")]
    assert not left, left


def test_one_maintenance_run_reads_each_finished_job_once(tmp_path, python_m):
    """One maintenance run with 0 and 1,000 finished jobs: timed, and its Redis commands
    counted - about one per job (RQ's cleanup, the recovery's scan)."""
    out = tmp_path / "maintenance.json"
    result = python_m(
        "lab", "bench", "abandoned", "--quick", "--only", "maintenance", "--json", str(out),
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = json.loads(out.read_text())["maintenance"]
    assert [row["jobs"] for row in rows] == [0, 1000]
    empty, full = rows
    assert all(row["ms"] > 0 for row in rows), rows
    assert 0 < empty["redis_commands"] < 100, empty
    assert 1000 <= full["redis_commands"] - empty["redis_commands"] < 3000, rows


def test_reset_deletes_every_key_rq_keeps_under_the_queue_s_name(redis_conn):
    """What RQ leaves of a queue whose workers were killed - its list, its intermediate list
    and the first_seen marks of RQ's cleanup of it, registries, workers' set, cleaning lock -
    and the jobs listed there go; a queue whose name only begins the same is left alone."""
    queue, other = bench_queue(QUEUE, redis_conn), bench_queue(f"{QUEUE}-other", redis_conn)
    queued, popped, started, kept = (
        q.enqueue("solutions.tasks.send_fake_email", "x@example.com", 0)
        for q in (queue, queue, queue, other)
    )
    redis_conn.lrem(queue.key, 0, popped.id)
    redis_conn.lrem(queue.key, 0, started.id)
    redis_conn.rpush(queue.intermediate_queue_key, popped.id)
    assert queue.intermediate_queue.set_first_seen(popped.id)
    redis_conn.zadd(queue.started_job_registry.key, {f"{started.id}:execution": 1})
    redis_conn.sadd(f"rq:workers:{QUEUE}", "a-worker")
    redis_conn.set(queue.registry_cleaning_key, 1)
    reset(queue)
    left = [key.decode() for key in redis_conn.keys(f"*{QUEUE}*")]
    assert sorted(left) == sorted([other.key]), left
    assert not redis_conn.exists(queued.key, popped.key, started.key)
    assert redis_conn.exists(kept.key) and other.count == 1

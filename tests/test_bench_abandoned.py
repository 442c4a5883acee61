"""`python -m lab bench abandoned` (provided): a quick real run of what the crash lab's
closing figures come from - how fast a killed worker's job is failed or retried, and what
one maintenance run costs - and the Redis it leaves behind. Provided code: it runs
solutions/ whatever --impl says, and uses no learner fixture."""

from __future__ import annotations

import json

from lab.support.experiments.bench.abandoned import QUEUE

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

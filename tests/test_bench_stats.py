"""`python -m lab bench stats` (provided): a quick real run with --package solutions, its
JSON and report, the counts it checked, and the Redis it leaves behind. Provided code:
it runs solutions/ whatever --impl says, and uses no learner fixture."""

from __future__ import annotations

import json
import shutil

import pytest

from lab.support.course.reference import copy_checkout
from lab.support.experiments.bench.stats_cli import (
    FIELDS,
    IDLE_QUEUE,
    SIZE_FIELDS,
    sizes_from,
    split,
)
from lab.support.experiments.bench.stats_cli import QUEUE as STATS_QUEUE
from lab.support.queueing.monitor import STATUSES

QUICK = ("--jobs", "300", "--requests", "3", "--sizes", "0,300")


def keys_of(fields: dict[str, str]) -> set[str]:
    return {name for key in fields for name in key.split()}


def test_a_quick_run_checks_the_counts_it_placed_and_leaves_no_job_behind(
    tmp_path, redis_conn, python_m
):
    """300 jobs in the bench queue's registries: at each size RQ's counts, GET /stats's and
    GET /metrics's equal what was placed; each size has its four timed rows; afterwards no
    job, no key of the bench queue and no worker of it is left in the database."""
    out = tmp_path / "stats.json"
    result = python_m(
        "lab", "bench", "stats", *QUICK, "--package", "solutions", "--json", str(out), timeout=60
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert data["package"] == "solutions"
    assert [size["jobs"] for size in data["sizes"]] == [0, 300]
    for size in data["sizes"]:
        assert set(size) == keys_of(SIZE_FIELDS)
        expected = {**dict.fromkeys(STATUSES, 0), **split(size["jobs"])}
        assert size["placed"] == expected
        assert size["rq_counts"] == size["stats_counts"] == size["metrics_counts"] == expected
        last_minute = size["finished_last_minute"]
        assert last_minute["stats"] == last_minute["expected"]
    # Half of the finished jobs (every other one) ended in the last 40 s.
    finished = split(300)["finished"]
    assert data["sizes"][1]["finished_last_minute"]["expected"] == (finished + 1) // 2
    rows = data["rows"]
    whats = ["GET /stats", "GET /metrics", "read_stats()", "finished_since()"]
    assert [(r["jobs"], r["what"]) for r in rows] == [(n, w) for n in (0, 300) for w in whats]
    for r in rows:
        assert set(r) == keys_of(FIELDS)
        assert r["requests"] == 3
        assert 0 < r["p50_ms"] <= r["p95_ms"] <= r["max_ms"], r
        assert (r["bytes"] is None) == (not r["what"].startswith("GET")), r
    assert "300  (120 finished, 60 failed, 60 queued, 30 scheduled, 30 deferred)" in result.stdout
    left = [key.decode() for key in redis_conn.keys("*")]
    assert not [key for key in left if key.startswith("rq:job:")], left
    assert not [key for key in left if STATS_QUEUE in key], left
    workers = [key for key in left if key.startswith("rq:worker:")]
    for key in workers:  # RQ keeps a stopped worker's hash for 60 s, marked dead
        assert redis_conn.hget(key, "death") is not None, f"{key} is still alive"
    assert not redis_conn.smembers(f"rq:workers:{IDLE_QUEUE}")


def test_an_unwritten_step_09_is_named_in_one_line_and_nothing_is_left(
    tmp_path, redis_conn, python_m
):
    """Steps 00 and 03 written, lab/stats.py not: with --package lab the bench names
    queue_stats() in one line, and leaves no job of its own behind."""
    root = copy_checkout(tmp_path / "checkout", lab="stubs")
    for name in ["connection", "tasks", "worker"]:
        shutil.copy2(root / "solutions" / f"{name}.py", root / "lab" / f"{name}.py")
    result = python_m("lab", "bench", "stats", *QUICK, "--package", "lab", root=root, timeout=60)
    assert result.returncode == 1
    assert result.stderr == "bench: queue_stats() in lab/stats.py is not written yet (lab/)\n"
    assert not redis_conn.keys("rq:job:*")
    assert not redis_conn.keys(f"*{STATS_QUEUE}*")


def test_sizes_end_at_jobs_and_are_checked():
    assert sizes_from(None, 10_000) == (0, 1_000, 10_000)
    assert sizes_from("300,0", 300) == (0, 300)
    assert sizes_from("0,100", 300) == (0, 100, 300)
    for wrong in ("0,400", "a,b", "-1"):
        with pytest.raises(Exception, match="--sizes"):
            sizes_from(wrong, 300)


def test_split_shares_every_job_out():
    assert split(10_000) == {
        "finished": 4_000, "failed": 2_000, "queued": 2_000, "scheduled": 1_000, "deferred": 1_000
    }  # fmt: skip
    for jobs in (0, 1, 9, 299, 301):
        assert sum(split(jobs).values()) == jobs

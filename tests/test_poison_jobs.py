"""A poison job never stops a worker (lab/support/workers/poison.py), and a worker stopped
by an unexpected error exits non-zero.

Each test runs `python -m solutions.worker` as a person does, on jobs put in Redis as a
damaged producer (or a person with redis-cli) would leave them. With stock RQ 3.0, a job
whose `created_at` is `x` ended the worker ("found an unhandled exception, quitting...",
exit 0) and the good job behind it stayed queued; a job with undecodable data or a
function that cannot be imported was failed with a traceback in the log."""

from __future__ import annotations

import sys

import pytest
from redis import Redis
from rq import Queue
from rq.job import Job
from rq.results import Result

from lab.support.queueing.jobs import wait_for_status
from lab.support.queueing.recovery import SEEN_KEY
from lab.support.servers.processes import Background, poll, start_worker

QUEUE = "poison"

#: kind -> (what is wrong with the job, a word of the reason its failure gives)
POISONS = {
    "bad-timestamp": ("created_at", "time data 'x'"),
    "unknown-status": ("status", "'bogus' is not a valid JobStatus"),
    "undecodable-data": ("data", "DeserializationError"),
    "unimportable-function": ("func", "nowhere.missing_function"),
}


def poison(queue: Queue, kind: str) -> str:
    """Queue a poison job of `kind`; return its id."""
    field = POISONS[kind][0]
    if field == "func":  # RQ queues a function by name without importing it
        return queue.enqueue("nowhere.missing_function", 1).id
    job = queue.enqueue("solutions.tasks.send_fake_email", "poison@example.com", 0)
    damage = {"created_at": "x", "status": "bogus", "data": b"\x00not a pickle\xff"}[field]
    queue.connection.hset(job.key, field, damage)
    return job.id


def reason(redis_conn: Redis, job_id: str) -> str:
    """The reason stored with the failure of `job_id` (RQ's latest result), read without
    loading the job, which may not load."""
    latest = Result.fetch_latest(Job(job_id, connection=redis_conn))
    assert latest is not None, f"no failure result stored for {job_id}"
    return latest.exc_string or ""


def assert_failed_as_poison(redis_conn: Redis, queue: Queue, ids: dict[str, str], said: str):
    failed = queue.failed_job_registry.get_job_ids()
    for kind, job_id in ids.items():
        assert job_id in failed, f"{kind} job not in the failed registry:\n{said}"
        assert POISONS[kind][1] in reason(redis_conn, job_id), (kind, reason(redis_conn, job_id))
        assert redis_conn.hget(Job.key_for(job_id), "status") == b"failed", kind
        assert f"job {job_id} failed. Poison job" in said, f"{kind} not logged:\n{said}"
    assert not redis_conn.lrange(queue.intermediate_queue_key, 0, -1), "left in intermediate"
    assert "Traceback" not in said, said


@pytest.mark.parametrize(
    "kind",
    [[], ["--simple"], ["--spawn"], ["--processes", "2"]],
    ids=["Worker", "SimpleWorker", "SpawnWorker", "pool-of-2"],
)
def test_poison_jobs_are_failed_and_the_worker_goes_on(redis_conn, kind):
    queue = Queue(QUEUE, connection=redis_conn)
    ids = {name: poison(queue, name) for name in POISONS}
    good = queue.enqueue("solutions.tasks.send_fake_email", "good@example.com", 0)
    with start_worker(QUEUE, *kind, package="solutions") as worker:
        try:
            wait_for_status(good, "finished", timeout=60)
        finally:
            said = worker.output()
        assert worker.running, f"the worker exited ({worker.process.poll()}):\n{said}"
        later = queue.enqueue("solutions.tasks.send_fake_email", "later@example.com", 0)
        wait_for_status(later, "finished", timeout=60)
        said = worker.output()
    assert_failed_as_poison(redis_conn, queue, ids, said)


@pytest.mark.parametrize("damage", ["bad-timestamp", "no-data"])
def test_a_poison_job_in_the_intermediate_list_is_failed_by_maintenance(redis_conn, damage):
    """Where a worker of stock RQ left a job it could not load: RQ's maintenance loads each
    job of that list, and its loop ended on it, in every worker that cleaned the queue. A
    job hash without data RQ skips as no job at all, leaving its id there, and the
    recovery of lost jobs would queue it again (its status says queued), forever."""
    queue = Queue(QUEUE, connection=redis_conn)
    if damage == "bad-timestamp":
        job_id, words = poison(queue, "bad-timestamp"), "time data 'x'"
    else:
        job_id, words = poison(queue, "unimportable-function"), "has no data"
        redis_conn.hdel(Job.key_for(job_id), "data")
    redis_conn.lmove(queue.key, queue.intermediate_queue_key)  # taken, not started
    good = queue.enqueue("solutions.tasks.send_fake_email", "good@example.com", 0)
    env = {"MAINTENANCE_INTERVAL": "1"}
    with start_worker(QUEUE, "--simple", package="solutions", env=env) as worker:
        wait_for_status(good, "finished", timeout=60)
        poll(
            lambda: queue.failed_job_registry.get_job_ids(),
            lambda failed: job_id in failed,
            "the poison job in the failed registry",
            timeout=30,
        )
        assert worker.running, worker.output()
        said = worker.output()
    assert words in reason(redis_conn, job_id)
    assert f"job {job_id} failed. Poison job" in said, said
    assert not redis_conn.lrange(queue.intermediate_queue_key, 0, -1)
    assert queue.count == 0  # not queued again


@pytest.mark.parametrize("kind", [[], ["--simple"]], ids=["Worker", "SimpleWorker"])
def test_a_worker_stopped_by_an_unexpected_error_exits_non_zero(redis_conn, kind):
    """The recovery's own hash (recovery.py) holds a string: the worker's first maintenance
    fails with WRONGTYPE. RQ's loop ended on it with exit status 0, as if it were done."""
    redis_conn.set(SEEN_KEY, "not a hash")
    queue = Queue(QUEUE, connection=redis_conn)
    good = queue.enqueue("solutions.tasks.send_fake_email", "good@example.com", 0)
    worker = Background(
        "worker", [sys.executable, "-m", "solutions.worker", QUEUE, *kind]
    )  # not start_worker(): it may exit before it says that it listens
    with worker:
        code = worker.wait(60)
        said = worker.output()
    assert code == 1, said
    assert "stops on an unexpected error, exit status 1" in said, said
    assert "WRONGTYPE" in said, said
    assert good.get_status(refresh=True) == "queued"  # not taken by a worker that was ending

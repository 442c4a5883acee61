"""Lost jobs (lab/support/queueing/recovery.py): why an accepted job can end `queued` in no
queue, and how the workbook queues it again. Provided code, on real Redis servers."""

from __future__ import annotations

import time

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from rq import Queue
from rq.job import Job

from lab.support.queueing.jobs import wait_for_status
from lab.support.queueing.recovery import SEEN_KEY, recover_lost_jobs
from lab.support.servers.processes import poll, start_worker
from lab.support.servers.redis_server import PrivateServer

EMAIL = "solutions.tasks.send_fake_email"


def popped_then_redis_lost(server: PrivateServer, queues: list[Queue]) -> str:
    """What a worker does, with Redis stopped between its two first steps: RQ's pop
    (BLMOVE into the intermediate list for one queue, BLPOP for several), then the fetch
    of the job, which fails. Returns the popped job's id."""
    connection = queues[0].connection
    keys = [queue.key for queue in queues]
    if len(keys) == 1:
        _, job_id = Queue.lmove(connection, keys[0], timeout=1)
    else:
        _, job_id = Queue.lpop(keys, timeout=1, connection=connection)
    server.stop()  # graceful: the pop is in the append-only file
    with pytest.raises(RedisConnectionError):
        Job.fetch(job_id.decode(), connection=connection)  # the worker's next step
    server.start()
    return job_id.decode()


def where(connection, queue: Queue, job_id: str) -> dict:  # noqa: ANN001
    return {
        "status": Job.fetch(job_id, connection=connection).get_status().value,
        "queued": job_id.encode() in connection.lrange(queue.key, 0, -1),
        "intermediate": job_id.encode() in connection.lrange(queue.intermediate_queue_key, 0, -1),
        "started": job_id in queue.started_job_registry,
    }


@pytest.mark.parametrize("queues", [1, 2], ids=["one-queue-blmove", "two-queues-blpop"])
def test_a_pop_whose_worker_lost_redis_leaves_an_accepted_job_lost(private_redis, queues):
    """Evidence: the job stays `queued`, in no queue and not started. With one queue its id
    is in the intermediate list (RQ's cleanup would FAIL it after a minute, though it never
    ran); with several it is nowhere. recover_lost_jobs() queues it again on the 2nd look."""
    connection = private_redis.client()
    mine = [Queue(name, connection=connection) for name in ("high", "low")[:queues]]
    job = mine[0].enqueue(EMAIL, "lost@example.com", 0)
    assert popped_then_redis_lost(private_redis, mine) == job.id
    state = where(connection, mine[0], job.id)
    assert state == {"status": "queued", "queued": False, "intermediate": queues == 1,
                     "started": False}  # fmt: skip
    assert recover_lost_jobs(connection, mine, grace=0.2) == [], "not on the first look"
    time.sleep(0.3)
    assert recover_lost_jobs(connection, mine, grace=0.2, dry_run=True) == [job.id]
    assert not where(connection, mine[0], job.id)["queued"], "a dry run changes nothing"
    assert recover_lost_jobs(connection, mine, grace=0.2) == [job.id]
    assert where(connection, mine[0], job.id) == {
        "status": "queued", "queued": True, "intermediate": False, "started": False,
    }  # fmt: skip
    assert not connection.hexists(SEEN_KEY, job.id)


def test_jobs_that_are_not_lost_are_left_alone(redis_conn):
    """A job waiting in its queue, one started (its id still in the intermediate list, as
    for a moment after a pop), finished ones: two looks, nothing queued again."""
    queue = Queue("not-lost", connection=redis_conn)
    waiting = queue.enqueue(EMAIL, "a@b.c", 0)
    running = queue.enqueue(EMAIL, "a@b.c", 0)
    redis_conn.lrem(queue.key, 1, running.id)
    redis_conn.rpush(queue.intermediate_queue_key, running.id)
    running.set_status("started")
    for _ in range(2):
        assert recover_lost_jobs(redis_conn, [queue], grace=0) == []
    assert redis_conn.lrange(queue.key, 0, -1) == [waiting.id.encode()]


def test_a_job_in_flight_once_is_not_taken_for_lost(redis_conn):
    """Seen lost once, then started by its worker: forgotten, never queued again."""
    queue = Queue("in-flight", connection=redis_conn)
    job = queue.enqueue(EMAIL, "a@b.c", 0)
    redis_conn.lpop(queue.key)
    assert recover_lost_jobs(redis_conn, [queue], grace=0) == []
    assert redis_conn.hexists(SEEN_KEY, job.id)
    job.set_status("started")
    assert recover_lost_jobs(redis_conn, [queue], grace=0) == []
    assert not redis_conn.hexists(SEEN_KEY, job.id)
    assert redis_conn.llen(queue.key) == 0


def test_a_workers_maintenance_recovers_a_lost_job_and_runs_it(redis_conn):
    """A job popped by BLPOP and forgotten (its worker lost Redis): a worker of
    `python -m solutions.worker` with MAINTENANCE_INTERVAL=1 queues it again within a few
    seconds, says so in one line, and runs it."""
    high, low = (Queue(name, connection=redis_conn) for name in ("rec-high", "rec-low"))
    job = low.enqueue(EMAIL, "lost@example.com", 0)
    Queue.lpop([high.key, low.key], timeout=1, connection=redis_conn)  # popped, forgotten
    assert job.get_status(refresh=True).value == "queued"
    env = {"MAINTENANCE_INTERVAL": "1", "WORKER_TTL": "16"}
    with start_worker(high.name, low.name, "--simple", package="solutions", env=env) as worker:
        assert wait_for_status(job, "finished", timeout=20) == "finished", worker.output()
        said = worker.output()
    assert said.count(f"Recovered lost job {job.id}: queued again on rec-low") == 1, said


def test_lab_recover_queues_a_lost_job_again(redis_conn, python_m):
    """`python -m lab recover --dry-run` names the lost job; without it, the job is queued
    again."""
    queue = Queue("rec-cli", connection=redis_conn)
    job = queue.enqueue(EMAIL, "a@b.c", 0)
    redis_conn.lpop(queue.key)
    dry = python_m("lab", "recover", "rec-cli", "--dry-run", "--wait", "0.3", timeout=30)
    assert dry.stdout.splitlines() == [f"would queue again: {job.id}",
                                       "1 lost job(s) would queue again."], dry.stderr  # fmt: skip
    assert redis_conn.llen(queue.key) == 0
    done = python_m("lab", "recover", "rec-cli", "--wait", "0.3", timeout=30)
    assert done.stdout.splitlines()[-1] == "1 lost job(s) queued again.", done.stderr
    poll(lambda: redis_conn.lrange(queue.key, 0, -1), [job.id.encode()].__eq__, "requeue", 1)

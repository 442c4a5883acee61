"""`python -m solutions.worker` (lab/support/workers/cli.py, outage.py) and Redis outages:
a private Redis server stopped or killed under a running worker, then started again on the
same port with the same data. Provided code: these tests run the reference worker."""

from __future__ import annotations

import signal
import time

import pytest
from rq import Queue, Retry, Worker

from lab.support.queueing.jobs import wait_for_status
from lab.support.servers.processes import poll, start_worker
from lab.support.servers.redis_server import PrivateServer

FAST = {"WORKER_TTL": "16", "MAINTENANCE_INTERVAL": "2", "JOB_HEARTBEAT": "1", "JOB_LEASE": "6"}
EMAIL = "solutions.tasks.send_fake_email"
KINDS = {"forking": (), "simple": ("--simple",), "pool": ("--simple", "--processes", "2")}


def workers_of(flags: tuple[str, ...]) -> int:
    return int(flags[flags.index("--processes") + 1]) if "--processes" in flags else 1


def assert_clean(output: str) -> None:
    assert "Traceback" not in output, output
    assert "could not connect to Redis instance" not in output, output
    assert "unhandled exception" not in output, output


def outage(server: PrivateServer, how: str) -> None:
    server.kill() if how == "kill" else server.stop()


OUTAGES = [("forking", "stop"), ("forking", "kill"), ("simple", "stop"), ("pool", "kill")]


@pytest.mark.parametrize(("kind", "how"), OUTAGES)
def test_a_worker_rides_out_an_outage_and_goes_on(private_redis, kind, how):
    """Redis stopped (or killed) for ~2 s under an idle worker: one line when it goes, one
    when it is back, no traceback, and a job queued afterwards is done."""
    flags = KINDS[kind]
    count = workers_of(flags)
    env = {**FAST, "REDIS_URL": private_redis.url}
    with start_worker(*flags, package="solutions", env=env) as worker:
        poll(worker.output, lambda out: out.count("Listening on") == count, "workers", 15)
        outage(private_redis, how)
        poll(worker.output, lambda out: out.count("does not answer") == count, "the line", 20)
        time.sleep(1)
        private_redis.start()
        poll(worker.output, lambda out: out.count("Redis is back after") == count, "back", 20)
        job = Queue("default", connection=private_redis.client()).enqueue(EMAIL, "a@b.c", 0)
        assert wait_for_status(job, timeout=20) == "finished"
        assert worker.running
        said = worker.output()
    assert said.count("does not answer") == count, said
    assert "REDIS_OUTAGE_LIMIT" in said
    assert_clean(said)


@pytest.mark.parametrize("kind", ["forking", "pool"])
def test_past_the_outage_limit_a_worker_exits_with_one_line(private_redis, kind):
    """REDIS_OUTAGE_LIMIT=2: Redis gone for good, the worker (or the whole pool) exits 1
    after about 2 s, saying so once per worker, with no traceback."""
    flags = KINDS[kind]
    env = {**FAST, "REDIS_URL": private_redis.url, "REDIS_OUTAGE_LIMIT": "2"}
    worker = start_worker(*flags, package="solutions", env=env)
    try:
        count = workers_of(flags)
        poll(worker.output, lambda out: out.count("Listening on") == count, "workers", 15)
        private_redis.kill()
        gone = time.monotonic()
        assert worker.wait(30) == 1
        took = time.monotonic() - gone
        said = worker.output()
    finally:
        worker.kill()
    assert said.count("did not answer for 2 s (REDIS_OUTAGE_LIMIT)") == workers_of(flags), said
    assert 1 <= took < 15, f"exited {took:.1f} s after Redis went away"
    assert_clean(said)


def test_sigterm_during_an_outage_stops_the_worker_at_once(private_redis):
    """SIGTERM to an idle worker (with its scheduler) waiting for Redis: it exits 0 at once."""
    env = {**FAST, "REDIS_URL": private_redis.url}
    worker = start_worker("--with-scheduler", package="solutions", env=env)
    try:
        worker.wait_for_output("Scheduler for default started")
        private_redis.kill()
        worker.wait_for_output("does not answer", 20)
        asked = time.monotonic()
        worker.process.send_signal(signal.SIGTERM)
        assert worker.wait(10) == 0
        took = time.monotonic() - asked
        said = worker.output()
    finally:
        worker.kill()
    assert took < 3, f"it took {took:.1f} s to stop"
    assert_clean(said)


@pytest.mark.parametrize("kind", ["forking", "simple"])
def test_a_job_running_across_an_outage_finishes(private_redis, kind):
    """A 3-s job; Redis killed 0.5 s into it and back 4 s later: the job's outcome waits for
    Redis and is stored (finished, not failed, not abandoned), and the worker goes on."""
    env = {**FAST, "REDIS_URL": private_redis.url}
    queue = Queue("default", connection=private_redis.client())
    with start_worker(*KINDS[kind], package="solutions", env=env) as worker:
        job = queue.enqueue(EMAIL, "a@b.c", 3)
        wait_for_status(job, "started")
        time.sleep(0.5)
        private_redis.kill()
        worker.wait_for_output("does not answer", 20)
        time.sleep(3.5)
        private_redis.start()
        assert wait_for_status(job, timeout=30) == "finished", worker.output()
        after = queue.enqueue(EMAIL, "a@b.c", 0)
        assert wait_for_status(after, timeout=20) == "finished"
        said = worker.output()
    assert said.count("Redis is back after") == 1, said
    assert_clean(said)


@pytest.mark.parametrize("retry", [False, True], ids=["no-retry", "retry"])
def test_a_killed_workers_job_is_failed_or_retried_within_its_lease(redis_conn, retry):
    """kill -9 of a busy --simple worker: another worker's maintenance fails the job
    (AbandonedJobError) within JOB_LEASE + MAINTENANCE_INTERVAL (6 + 2 s) plus a margin -
    811 s with RQ's defaults - or, with Retry(max=1), runs it again."""
    queue = Queue("abandon-me", connection=redis_conn)
    doomed = start_worker(queue.name, "--simple", package="solutions", env=FAST)
    survivor = None
    try:
        job = queue.enqueue(EMAIL, "a@b.c", 60, retry=Retry(max=1) if retry else None)
        wait_for_status(job, "started")
        survivor = start_worker(queue.name, "--simple", package="solutions", env=FAST)
        killed = time.monotonic()
        first = queue.fetch_job(job.id).worker_name
        doomed.kill()
        if retry:
            poll(
                lambda: queue.fetch_job(job.id),
                lambda j: j.get_status() == "started" and j.worker_name != first,
                "the job to run again on the other worker",
                timeout=20,
            )
        else:
            assert wait_for_status(job, "failed", timeout=20) == "failed"
            assert "AbandonedJobError" in job.latest_result().exc_string
        took = time.monotonic() - killed
    finally:
        doomed.kill()
        if survivor is not None:
            survivor.kill()
    assert took < 6 + 2 + 4, f"{took:.1f} s"


def test_a_busy_simple_worker_keeps_its_job_past_the_lease(redis_conn):
    """A --simple worker runs a 5-s job with JOB_LEASE=3 while another worker runs
    maintenance every second: its heartbeat thread keeps the lease, so the job finishes,
    and the worker's last heartbeat is never older than JOB_LEASE."""
    env = {**FAST, "MAINTENANCE_INTERVAL": "1", "JOB_LEASE": "3"}
    queue = Queue("long-simple", connection=redis_conn)
    with (
        start_worker(queue.name, "--simple", package="solutions", env=env) as one,
        start_worker(queue.name, "--simple", package="solutions", env=env) as other,
    ):
        # Both up before the job: one runs it, the other cleans the registries meanwhile.
        poll(lambda: Worker.count(queue=queue), lambda n: n == 2, "two workers", 30)
        job = queue.enqueue(EMAIL, "a@b.c", 5)
        wait_for_status(job, "started")
        ages = []
        while job.get_status(refresh=True).value == "started":
            name = queue.fetch_job(job.id).worker_name
            beat = Worker.find_by_key(f"rq:worker:{name}", connection=redis_conn)
            ages.append((time.time() - beat.last_heartbeat.timestamp()) if beat else 99)
            time.sleep(0.2)
        assert job.get_status(refresh=True).value == "finished", one.output() + other.output()
    assert ages, "the job was never seen started"
    assert max(ages) < 3, f"heartbeats {max(ages):.1f} s apart"

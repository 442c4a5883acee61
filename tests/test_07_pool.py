"""Step 07: lab/pool.py (build_pool on RQ's WorkerPool), lab/tasks.py (hash_chain) and
`python -m lab.worker --processes N`, run as real processes."""

from __future__ import annotations

import hashlib
import os
import signal
import time
from urllib.parse import urlsplit

import pytest
from rq import SimpleWorker, Worker
from rq.worker_pool import WorkerPool

from lab.support.config import get_settings
from lab.support.queueing.jobs import job_outcome, wait_for_status
from lab.support.servers.processes import last_line, start_worker

ADDRESS = "user@example.com"


def chain(seed: bytes, rounds: int) -> str:
    for _ in range(rounds):
        seed = hashlib.sha256(seed).digest()
    return seed.hex()


# --- hash_chain: CPU-bound work ----------------------------------------------------------


def test_hash_chain_hashes_the_digest_rounds_times(tasks):
    """hash_chain(rounds) hashes b'workbook' with SHA-256, then each digest, and returns hex."""
    for rounds in (1, 3, 1000):
        got = tasks.hash_chain(rounds)
        assert got == chain(b"workbook", rounds), f"hash_chain({rounds}) returned {got!r}"
    assert tasks.hash_chain(2, seed="other") == chain(b"other", 2), "the seed is not used"


def test_hash_chain_of_zero_rounds_is_the_seed_in_hex(tasks):
    """hash_chain(0) returns the seed's own bytes in hex: no hashing at all."""
    assert tasks.hash_chain(0) == b"workbook".hex()


def test_hash_chain_refuses_negative_rounds(tasks):
    """hash_chain(-1) raises ValueError: a negative count of rounds is a mistake."""
    with pytest.raises(ValueError):
        tasks.hash_chain(-1)


# --- build_pool: a WorkerPool -------------------------------------------------------------


def test_build_pool_makes_a_worker_pool_as_asked(pool, redis_conn):
    """build_pool(names, N, cls, connection=c) is a WorkerPool of N cls workers on names, on c."""
    built = pool.build_pool(["high", "default"], 3, SimpleWorker, connection=redis_conn)
    assert isinstance(built, WorkerPool), f"build_pool() returned a {type(built).__name__}"
    assert built.num_workers == 3, f"num_workers is {built.num_workers}, not processes (3)"
    assert built.worker_class is SimpleWorker, f"the pool makes {built.worker_class} workers"
    names = [q.name for q in built.queues]
    assert names == ["high", "default"], f"build_pool(['high', 'default']) listens on {names}"
    assert built.connection is redis_conn, "pass connection=connection to WorkerPool"


def test_build_pool_defaults(pool, redis_url, monkeypatch):
    """build_pool() listens on the QUEUE_NAME queue, read when called, with two Workers.

    Its connection is get_redis()'s: REDIS_URL's database, REDIS_TIMEOUT's timeouts."""
    monkeypatch.setenv("QUEUE_NAME", "emails")
    get_settings.cache_clear()
    built = pool.build_pool()
    names = [q.name for q in built.queues]
    assert names == ["emails"], f"with QUEUE_NAME=emails, build_pool() listens on {names}"
    assert (built.num_workers, built.worker_class) == (2, Worker), (
        f"build_pool() made {built.num_workers} {built.worker_class.__name__}s"
    )
    assert built.connection.ping() is True
    kwargs = built.connection.connection_pool.connection_kwargs
    db, timeout = int(urlsplit(redis_url).path.strip("/")), get_settings().redis_timeout
    assert (kwargs.get("db"), kwargs.get("socket_timeout")) == (db, timeout), (
        f"the pool's connection is to database {kwargs.get('db')}, timeout"
        f" {kwargs.get('socket_timeout')}: use get_redis() when no connection is given"
    )


# --- python -m lab.worker --processes N ------------------------------------------------------


def test_processes_run_jobs_at_the_same_time(impl, tasks, queue):
    """`python -m lab.worker --processes 2 --burst` runs two jobs at once, in two workers."""
    jobs = [queue.enqueue(tasks.send_fake_email, f"u{i}@example.com", 0.6) for i in range(4)]
    with start_worker("--processes", "2", "--simple", "--burst", package=impl) as process:
        code = process.wait(60)
        output = process.output()
    assert code == 0, f"the pool exited {code}: {last_line(output)}\n{output[-2000:]}"
    assert "WorkerPool of 2 SimpleWorkers listening on default" in output, output[-2000:]
    for job in jobs:
        job.refresh()
        assert job.get_status() == "finished", f"a job ended {job_outcome(job)}"
    assert len({job.worker_name for job in jobs}) == 2, "the jobs did not run in two workers"
    first, second = sorted(jobs, key=lambda job: job.started_at)[:2]
    assert second.started_at < first.ended_at, (
        f"the second job started {(second.started_at - first.ended_at).total_seconds():.2f} s"
        " after the first ended: the workers took turns instead of running at once"
    )


@pytest.mark.parametrize("stop", ["SIGTERM", "Ctrl-C"])
def test_a_stopped_pool_finishes_its_jobs_and_loses_none(impl, tasks, queue, stop):
    """SIGTERM, or Ctrl-C to the whole terminal, stops the pool after its running jobs.

    The jobs it had started finish; those it had not stay queued; the pool exits 0."""
    jobs = [queue.enqueue(tasks.send_fake_email, f"u{i}@example.com", 1.5) for i in range(5)]
    with start_worker("--processes", "2", package=impl) as process:
        deadline = time.monotonic() + 30
        while sum(job.get_status(refresh=True) == "started" for job in jobs) < 2:
            assert process.running and time.monotonic() < deadline, process.output()[-2000:]
            time.sleep(0.05)
        if stop == "SIGTERM":
            process.process.send_signal(signal.SIGTERM)
        else:  # a terminal sends SIGINT to every process of its foreground group
            os.killpg(process.process.pid, signal.SIGINT)
        code = process.wait(30)
        output = process.output()
    assert code == 0, f"the pool exited {code}: {last_line(output)}\n{output[-2000:]}"
    statuses = [job.get_status(refresh=True) for job in jobs]
    assert sorted(statuses) == ["finished"] * 2 + ["queued"] * 3, (
        f"after {stop} the jobs are {statuses}: 2 finished and 3 still queued expected"
    )
    assert queue.count == 3, f"{queue.count} jobs are left on the queue, not 3"


def test_pool_workers_keep_results_result_ttl_seconds(impl, tasks, queue):
    """A pool's workers keep a result RESULT_TTL seconds, as a single worker does."""
    job = queue.enqueue(tasks.send_fake_email, ADDRESS, 0)
    env = {"RESULT_TTL": "77"}
    with start_worker("--processes", "2", "--burst", package=impl, env=env) as process:
        assert process.wait(60) == 0, process.output()[-2000:]
    assert wait_for_status(job) == "finished", f"the job ended {job_outcome(job)}"
    ttl = queue.connection.ttl(job.key)
    assert 0 < ttl <= 77, f"the result is kept {ttl} s, not RESULT_TTL (77 s)"


@pytest.mark.parametrize("flags", [["--spawn"], ["--spawn", "--processes", "2"]])
def test_spawn_flag_runs_jobs_in_a_spawn_worker(impl, tasks, queue, receipt, flags):
    """`--spawn` runs each job in a new Python process (SpawnWorker), alone or in a pool."""
    job = queue.enqueue(tasks.send_fake_email, ADDRESS, 0)
    with start_worker(*flags, "--burst", package=impl) as process:
        code = process.wait(60)
        output = process.output()
    assert code == 0, f"the worker exited {code}: {last_line(output)}\n{output[-2000:]}"
    assert "SpawnWorker" in output.split("listening on")[0], output[-2000:]
    assert job.return_value(refresh=True) == receipt(ADDRESS), f"the job ended {job_outcome(job)}"

"""Step 07: lab/pool.py (build_pool on RQ's WorkerPool, pool_size: how many workers),
lab/tasks.py (hash_chain) and `python -m lab.worker --processes N`, run as real processes."""

from __future__ import annotations

import hashlib
import math
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


# --- pool_size: how many workers for a kind of job -------------------------------------------

#: (cpu_share, cores, workers): cores / cpu_share rounded down. The shares are exact binary
#: fractions or far from a whole quotient, so that any sound rounding down agrees.
SIZES = [
    (1.0, 2, 2),
    (1, 1, 1),
    (0.5, 2, 4),
    (0.3, 2, 6),
    (0.75, 2, 2),
    (0.75, 3, 4),
    (0.9, 4, 4),
    (0.125, 1, 8),
    (0.0625, 2, 32),
]


def test_pool_size_is_cores_over_the_cpu_share_rounded_down(pool):
    """pool_size(share, cores) is cores / share rounded down: the workers that fill the cores."""
    for cpu_share, cores, workers in SIZES:
        got = pool.pool_size(cpu_share, cores)
        assert got == workers, (
            f"pool_size({cpu_share}, {cores}) returned {got!r}, not {workers}:"
            f" {cores} / {cpu_share} = {cores / cpu_share:.3g}, rounded down"
        )


def test_pool_size_returns_an_int(pool):
    """pool_size() returns an int (it becomes `--processes N`), not a float such as 4.0."""
    for cpu_share, cores, limit in ((0.5, 2, 32), (0.01, 2, 8), (1.0, 1, 1)):
        got = pool.pool_size(cpu_share, cores, limit)
        assert type(got) is int, f"pool_size({cpu_share}, {cores}, {limit}) returned {got!r}"


def test_pool_size_is_never_more_than_limit(pool):
    """pool_size(share, cores, limit) is at most limit (32 by default), even below cores."""
    cases = [
        ((0.01, 2), 32),
        ((0.01, 2, 8), 8),
        ((0.5, 2, 4), 4),
        ((0.5, 2, 5), 4),
        ((1.0, 8, 4), 4),
        ((0.001, 1, 1), 1),
    ]
    for args, workers in cases:
        got = pool.pool_size(*args)
        call = f"pool_size({', '.join(map(repr, args))})"
        assert got == workers, f"{call} returned {got!r}, not {workers}"


def test_pool_size_of_a_vanishing_share_is_the_limit(pool):
    """pool_size() of a share so small that cores / share overflows to infinity is limit."""
    assert 2 / 5e-324 == math.inf  # the smallest float: the quotient is no number an int holds
    for args, workers in (((5e-324, 2), 32), ((5e-324, 1, 3), 3), ((1e-300, 4, 10), 10)):
        got = pool.pool_size(*args)
        call = f"pool_size({', '.join(map(repr, args))})"
        assert got == workers, f"{call} returned {got!r}, not {workers} (the limit)"


@pytest.mark.parametrize(
    "cpu_share",
    [0, 0.0, -0.5, 1.5, 1.000001, math.nan, math.inf, -math.inf],
    ids=["0", "0.0", "negative", "1.5", "just-over-1", "nan", "inf", "-inf"],
)
def test_pool_size_refuses_a_share_outside_zero_to_one(pool, cpu_share):
    """pool_size() raises ValueError for a share not in (0, 1]: 0, negative, over 1, NaN, inf."""
    with pytest.raises(ValueError):
        pool.pool_size(cpu_share, 2)


@pytest.mark.parametrize(
    "kwargs",
    [{"cores": 0}, {"cores": -2}, {"limit": 0}, {"limit": -1}],
    ids=["no-core", "negative-cores", "limit-0", "negative-limit"],
)
def test_pool_size_refuses_fewer_than_one_core_or_a_limit_below_one(pool, kwargs):
    """pool_size() raises ValueError for cores < 1 or limit < 1: no pool can have no worker."""
    with pytest.raises(ValueError):
        pool.pool_size(**{"cpu_share": 0.5, "cores": 2, "limit": 32, **kwargs})


# --- python -m lab.worker --processes N ------------------------------------------------------


@pytest.mark.e2e
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


@pytest.mark.e2e
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


@pytest.mark.e2e
def test_pool_workers_keep_results_result_ttl_seconds(impl, tasks, queue):
    """A pool's workers keep a result RESULT_TTL seconds, as a single worker does."""
    job = queue.enqueue(tasks.send_fake_email, ADDRESS, 0)
    env = {"RESULT_TTL": "77"}
    with start_worker("--processes", "2", "--burst", package=impl, env=env) as process:
        assert process.wait(60) == 0, process.output()[-2000:]
    assert wait_for_status(job) == "finished", f"the job ended {job_outcome(job)}"
    ttl = queue.connection.ttl(job.key)
    assert 0 < ttl <= 77, f"the result is kept {ttl} s, not RESULT_TTL (77 s)"


@pytest.mark.e2e
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

"""PROVIDED: `python -m lab bench abandoned` - how fast an abandoned job is found, and what
the maintenance that finds it costs (notebook 10).

- abandoned: a worker (`python -m <package>.worker`, forking) runs a long job and is killed
  with SIGKILL (its work horse too); a second worker stays up. Measured: the seconds from
  the kill until the job is failed (AbandonedJobError), and, for a job enqueued with
  Retry(max=1), until it runs again. With the workbook's settings (JOB_LEASE,
  MAINTENANCE_INTERVAL) or the ones given with --env.
- maintenance: one maintenance run of the workbook's worker (RQ's registry cleanup and the
  recovery of lost jobs) with 0, 1,000 and 10,000 finished jobs in the registries: its
  time and its Redis commands (INFO commandstats).
- throughput: no-op jobs through one `--simple --burst` worker with MAINTENANCE_INTERVAL
  15 against 600.

RQ's defaults, for comparison (not run: it takes minutes): a job's lease is
min(job timeout, 30) + 60 = 90 s after its last heartbeat, and an idle worker runs
maintenance only between two waits on its queues of WORKER_TTL - 15 = 405 s, so every
810 s at worst instead of every 600 s: 811 s was measured on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from lab.support.config import get_settings
from lab.support.experiments.harness import bench_queue, fields_help, reset, write_json
from lab.support.servers.processes import poll, start_worker

QUEUE = "bench-abandoned"
FIELDS = {
    "retry": "whether the job had Retry(max=1)",
    "failed_after_s": "seconds from the kill to the job failed (or queued again, with Retry)",
    "ran_again_after_s": "with Retry: seconds from the kill to the job started again",
}
HELP = (
    "measure how fast a killed worker's job is failed or retried, and what the maintenance"
    " that finds it costs (notebook 10)"
)
JSON = "--json PATH writes {env, abandoned, maintenance, throughput}; each abandoned row has:"
EPILOG = fields_help(JSON, FIELDS, 18)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--quick", action="store_true", help="small settings (JOB_LEASE=6, JOB_HEARTBEAT=1,"
        " MAINTENANCE_INTERVAL=3) and 1,000 jobs at most: ~1 min")  # fmt: skip
    add("--env", nargs="*", default=[], metavar="NAME=VALUE",
        help="settings for the workers, e.g. JOB_LEASE=45 MAINTENANCE_INTERVAL=15")  # fmt: skip
    add("--only", choices=["abandoned", "maintenance", "throughput"], help="measure only this")
    add("--json", type=Path, metavar="PATH", help="also write the results")
    add("--package", choices=["lab", "solutions"], default="solutions", help="whose worker")


def queue():  # noqa: ANN201 - an rq Queue
    """The bench's queue, on a connection of its own."""
    from redis import Redis

    return bench_queue(QUEUE, Redis.from_url(get_settings().redis_url))


def abandoned(env: dict[str, str], package: str, retry: bool) -> dict:
    """kill -9 of the worker (and its work horse) that runs a 120-s job, a second worker up:
    the seconds until the job is failed, or queued and started again (with Retry)."""
    from rq import Retry

    q = queue()
    survivor = start_worker(QUEUE, package=package, env=env)
    doomed = start_worker(QUEUE, package=package, env=env)
    try:
        job = q.enqueue(
            f"{package}.tasks.send_fake_email",
            "abandoned@example.com",
            120,
            retry=Retry(max=1) if retry else None,
            job_timeout=300,
        )
        poll(lambda: job.get_status(refresh=True).value, "started".__eq__, "the start", 30)
        runner = job.worker_name
        target = doomed if runner and runner in doomed.output() else survivor
        other = survivor if target is doomed else doomed
        killed = time.monotonic()
        target.crash()  # its work horse too

        def read() -> tuple[str, ...]:
            fields = q.connection.hmget(job.key, "status", "retries_left", "worker_name")
            return tuple((value or b"").decode() for value in fields)

        before = read()
        found = lambda now: now[0] == "failed" or now[1] != before[1]  # noqa: E731
        states = poll(read, found, "the job to be failed or queued again", 1200, every=0.05)
        since = lambda: round(time.monotonic() - killed, 1)  # noqa: E731
        row = {"retry": retry, "failed_after_s": since(), "status": states[-1][0]}
        if retry:
            again = lambda now: now[0] == "started" and now[2] not in ("", runner)  # noqa: E731
            poll(read, again, "the job to run again", 60, every=0.05)
            row["ran_again_after_s"] = since()
        other.crash()
        return row
    finally:
        survivor.kill()
        doomed.kill()
        reset(q)


def maintenance(sizes: tuple[int, ...]) -> list[dict]:
    """One maintenance run of a WorkbookSimpleWorker with `size` finished jobs."""
    from rq import Queue

    from lab.support.queueing.recovery import LOCK_KEY
    from lab.support.workers.classes import WorkbookSimpleWorker

    q, rows = queue(), []
    connection = q.connection
    for size in sizes:
        reset(q)
        for start in range(0, size, 1000):  # finished jobs, as a worker leaves them
            data = Queue.prepare_data("solutions.tasks.send_fake_email", ("x@example.com", 0))
            jobs = q.enqueue_many([data] * min(1000, size - start))
            with connection.pipeline() as pipe:
                for job in jobs:
                    pipe.hset(job.key, "status", "finished")
                    pipe.zadd(q.finished_job_registry.key, {job.id: time.time() + 3600})
                pipe.delete(q.key)
                pipe.execute()
        worker = WorkbookSimpleWorker([q], connection=connection)  # the settings main() set
        worker.last_cleaned_at = None
        connection.delete(q.registry_cleaning_key, LOCK_KEY)  # RQ's and recovery's locks
        connection.config_resetstat()
        started = time.perf_counter()
        worker.run_maintenance_tasks()
        seconds = time.perf_counter() - started
        stats = connection.info("commandstats")
        calls = sum(v["calls"] for k, v in stats.items() if k != "cmdstat_config")
        calls -= stats.get("cmdstat_info", {}).get("calls", 0)
        rows.append({"jobs": size, "ms": round(seconds * 1000, 1), "redis_commands": calls})
        reset(q)
        connection.delete(worker.key, worker.executions_key)  # its own keys only
    return rows


def throughput(jobs: int, package: str) -> list[dict]:
    """No-op jobs through one `--simple --burst` worker, MAINTENANCE_INTERVAL 600 and 15."""
    from rq import Queue
    from rq.utils import utcparse

    q, rows = queue(), []
    for interval in ("600", "15"):
        reset(q)
        data = Queue.prepare_data(f"{package}.tasks.send_fake_email", ("t@example.com", 0))
        enqueued = q.enqueue_many([data] * jobs)
        started = time.monotonic()
        env = {"MAINTENANCE_INTERVAL": interval}
        with start_worker(QUEUE, "--simple", "--burst", package=package, env=env) as worker:
            worker.wait(600)
            seconds = time.monotonic() - started
        with q.connection.pipeline(transaction=False) as pipe:
            for job in enqueued:
                pipe.hmget(job.key, "started_at", "ended_at")
            times = [t for t in pipe.execute() if t[0] and t[1]]
        first = min(utcparse(t[0].decode()) for t in times)
        busy = (max(utcparse(t[1].decode()) for t in times) - first).total_seconds()
        rates = {"seconds": round(busy, 2), "jobs_per_s": round(jobs / busy, 1)}
        row = {"maintenance_interval": int(interval), "jobs": jobs, **rates}
        rows.append({**row, "with_start_s": round(seconds, 2)})
        reset(q)
    return rows


def main(args: argparse.Namespace) -> int:
    from redis.exceptions import RedisError

    env = dict(item.split("=", 1) for item in args.env)
    if args.quick:
        env = {"JOB_LEASE": "6", "JOB_HEARTBEAT": "1", "MAINTENANCE_INTERVAL": "3", **env}
    os.environ.update(env)  # the settings of the worker maintenance() builds here
    get_settings.cache_clear()  # read again, with `env`
    sizes = (0, 1000) if args.quick else (0, 1000, 10000)
    measures = {
        "abandoned": lambda: [abandoned(env, args.package, retry) for retry in (False, True)],
        "maintenance": lambda: maintenance(sizes),
        "throughput": lambda: throughput(500 if args.quick else 3000, args.package),
    }
    result: dict = {"env": env}
    try:
        for name, measure in measures.items():
            if args.only in (None, name):
                result[name] = measure()
                for row in result[name]:
                    print(f"{name}:", json.dumps(row), flush=True)
    except RedisError as exc:
        print(f"bench: Redis stopped answering ({type(exc).__name__}: {exc}).", file=sys.stderr)
        return 1
    write_json(args.json, result)
    return 0

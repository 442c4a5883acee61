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

from lab.support.experiments.bench.stats_cli import reset

QUEUE = "bench-abandoned"
FIELDS = {
    "retry": "whether the job had Retry(max=1)",
    "failed_after_s": "seconds from the kill to the job failed (or queued again, with Retry)",
    "ran_again_after_s": "with Retry: seconds from the kill to the job started again",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small settings (JOB_LEASE=6, JOB_HEARTBEAT=1, MAINTENANCE_INTERVAL=3) and 1,000"
        " jobs at most: ~1 min",
    )
    parser.add_argument(
        "--env",
        nargs="*",
        default=[],
        metavar="NAME=VALUE",
        help="settings for the workers, e.g. JOB_LEASE=45 MAINTENANCE_INTERVAL=15",
    )
    parser.add_argument(
        "--only",
        choices=["abandoned", "maintenance", "throughput"],
        help="measure only this",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results")
    parser.add_argument(
        "--package", choices=["lab", "solutions"], default="solutions", help="whose worker"
    )


def abandoned(env: dict[str, str], package: str, retry: bool) -> dict:
    from redis import Redis
    from rq import Queue, Retry

    from lab.support.config import get_settings
    from lab.support.servers.processes import poll, start_worker

    connection = Redis.from_url(get_settings().redis_url)
    queue = Queue(QUEUE, connection=connection)
    survivor = start_worker(QUEUE, package=package, env=env)
    doomed = start_worker(QUEUE, package=package, env=env)
    try:
        job = queue.enqueue(
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

        def read() -> tuple[str, str, str]:
            fields = connection.hmget(job.key, "status", "retries_left", "worker_name")
            return tuple((value or b"").decode() for value in fields)

        before = read()
        states = poll(
            read,
            lambda now: now[0] == "failed" or now[1] != before[1],
            "the job to be failed or queued again",
            timeout=1200,
            every=0.05,
        )
        row = {
            "retry": retry,
            "failed_after_s": round(time.monotonic() - killed, 1),
            "status": states[-1][0],
        }
        if retry:
            poll(
                read,
                lambda now: now[0] == "started" and now[2] not in ("", runner),
                "the job to run again",
                timeout=60,
                every=0.05,
            )
            row["ran_again_after_s"] = round(time.monotonic() - killed, 1)
        other.crash()
        return row
    finally:
        survivor.kill()
        doomed.kill()
        reset(queue)


def maintenance(sizes: tuple[int, ...], env: dict[str, str]) -> list[dict]:
    """One maintenance run of a WorkbookSimpleWorker with `size` finished jobs."""
    from redis import Redis
    from rq import Queue

    from lab.support.config import get_settings
    from lab.support.queueing.recovery import LOCK_KEY
    from lab.support.workers.classes import WorkbookSimpleWorker

    os.environ.update(env)
    get_settings.cache_clear()
    settings = get_settings()
    connection = Redis.from_url(settings.redis_url)
    queue = Queue(QUEUE, connection=connection)
    rows = []
    for size in sizes:
        reset(queue)
        fill_finished(queue, size)
        worker = WorkbookSimpleWorker([queue], connection=connection)  # `env`'s settings
        worker.last_cleaned_at = None
        connection.delete(queue.registry_cleaning_key, LOCK_KEY)  # RQ's and recovery's locks
        connection.config_resetstat()
        started = time.perf_counter()
        worker.run_maintenance_tasks()
        seconds = time.perf_counter() - started
        stats = connection.info("commandstats")
        calls = sum(v["calls"] for k, v in stats.items() if k != "cmdstat_config")
        calls -= stats.get("cmdstat_info", {}).get("calls", 0)
        rows.append({"jobs": size, "ms": round(seconds * 1000, 1), "redis_commands": calls})
        reset(queue)
        connection.delete(worker.key, worker.executions_key)  # its own keys only
    return rows


def fill_finished(queue, size: int) -> None:  # noqa: ANN001 - an rq Queue
    """`size` finished jobs, as a worker leaves them (in batches of 1,000)."""
    from rq import Queue

    for start in range(0, size, 1000):
        count = min(1000, size - start)
        datas = [
            Queue.prepare_data("solutions.tasks.send_fake_email", ("x@example.com", 0))
            for _ in range(count)
        ]
        jobs = queue.enqueue_many(datas)
        with queue.connection.pipeline() as pipe:
            for job in jobs:
                pipe.hset(job.key, "status", "finished")
                pipe.zadd(queue.finished_job_registry.key, {job.id: time.time() + 3600})
            pipe.delete(queue.key)
            pipe.execute()


def throughput(jobs: int, package: str) -> list[dict]:
    from redis import Redis
    from rq import Queue
    from rq.utils import utcparse

    from lab.support.config import get_settings
    from lab.support.servers.processes import start_worker

    connection = Redis.from_url(get_settings().redis_url)
    queue = Queue(QUEUE, connection=connection)
    rows = []
    for interval in ("600", "15"):
        reset(queue)
        datas = [Queue.prepare_data(f"{package}.tasks.send_fake_email", ("t@example.com", 0))]
        enqueued = queue.enqueue_many(datas * jobs)
        started = time.monotonic()
        worker = start_worker(
            QUEUE, "--simple", "--burst", package=package, env={"MAINTENANCE_INTERVAL": interval}
        )
        worker.wait(600)
        seconds = time.monotonic() - started
        worker.stop()
        with connection.pipeline(transaction=False) as pipe:
            for job in enqueued:
                pipe.hmget(job.key, "started_at", "ended_at")
            times = [t for t in pipe.execute() if t[0] and t[1]]
        first = min(utcparse(t[0].decode()) for t in times)
        last = max(utcparse(t[1].decode()) for t in times)
        busy = (last - first).total_seconds()
        rows.append(
            {
                "maintenance_interval": int(interval),
                "jobs": jobs,
                "seconds": round(busy, 2),
                "jobs_per_s": round(jobs / busy, 1),
                "with_start_s": round(seconds, 2),
            }
        )
        reset(queue)
    return rows


def main(args: argparse.Namespace) -> int:
    from redis.exceptions import RedisError

    env = dict(item.split("=", 1) for item in args.env)
    if args.quick:
        env = {"JOB_LEASE": "6", "JOB_HEARTBEAT": "1", "MAINTENANCE_INTERVAL": "3", **env}
    sizes = (0, 1000) if args.quick else (0, 1000, 10000)
    result: dict = {"env": env}
    try:
        if args.only in (None, "abandoned"):
            result["abandoned"] = [abandoned(env, args.package, retry) for retry in (False, True)]
            for row in result["abandoned"]:
                print("abandoned:", json.dumps(row), flush=True)
        if args.only in (None, "maintenance"):
            result["maintenance"] = maintenance(sizes, env)
            for row in result["maintenance"]:
                print("maintenance:", json.dumps(row), flush=True)
        if args.only in (None, "throughput"):
            result["throughput"] = throughput(500 if args.quick else 3000, args.package)
            for row in result["throughput"]:
                print("throughput:", json.dumps(row), flush=True)
    except RedisError as exc:
        print(f"bench: Redis stopped answering ({type(exc).__name__}: {exc}).", file=sys.stderr)
        return 1
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0

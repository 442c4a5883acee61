"""PROVIDED: worker throughput, measured - `python -m lab bench workers` and notebook 07.

`throughput()` starts one worker command (the lab's `python -m <package>.worker`, or RQ's
`rq worker` / `rq worker-pool`), waits until its N workers have registered, queues the
jobs in one pipeline and times them from then until the last job's `ended_at`: start-up
is not in the time. Jobs: `send_fake_email` (sleep, or a no-op with delay 0) and
`hash_chain` (CPU-bound).
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from dataclasses import dataclass
from datetime import timezone
from pathlib import Path
from typing import TYPE_CHECKING

from lab.support.config import get_settings
from lab.support.course.stubs import NOT_DONE
from lab.support.experiments.harness import EMAIL, BenchError, bench_queue, reset
from lab.support.servers.processes import Background, last_line, poll

if TYPE_CHECKING:
    from redis import Redis
    from rq import Queue

QUEUE = "bench-workers"  # of `python -m lab bench workers` and notebook 07's measurements
#: The worker classes: a fork per job, none (the cheapest isolation), a new process per job.
CLASSES = ("Worker", "SimpleWorker", "SpawnWorker")
FLAGS = {"Worker": [], "SimpleWorker": ["--simple"], "SpawnWorker": ["--spawn"]}
#: Jobs: send_fake_email with delay 0, send_fake_email with a delay, hash_chain.
KINDS = ("noop", "sleep", "cpu")
START_TIMEOUT = 60.0


@dataclass
class Run:
    """One measurement: `jobs` jobs of one kind through one worker command."""

    worker: str  # "lab" (python -m <package>.worker) or "rq" (rq worker / rq worker-pool)
    worker_class: str
    processes: int
    kind: str
    jobs: int
    job_s: float  # each job's own work: its sleep, or the CPU time of one hash_chain here
    seconds: float  # from the enqueue to the last job's end
    jobs_per_s: float
    workers_used: int  # how many distinct workers ran the jobs


def usable_cores() -> int:
    """The CPU cores this process may run on: its CPU affinity, capped by a cgroup
    quota (a container given "2 CPUs" on a larger machine)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    cores = cores or os.cpu_count() or 1
    try:  # cgroup v2: "<quota> <period>" or "max <period>"
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            cores = min(cores, max(1, round(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return cores


def command(worker: str, worker_class: str, processes: int, package: str) -> list[str]:
    """The command line of one measured worker (processes == 1: a single worker)."""
    python = [sys.executable, "-m"]
    if worker == "lab":
        pool = ["--processes", str(processes)] if processes > 1 else []
        return [*python, f"{package}.worker", QUEUE, *FLAGS[worker_class], *pool]
    settings = get_settings()
    url = ["--url", settings.redis_url, "--worker-class", f"rq.worker.{worker_class}"]
    url += ["--serializer", settings.serializer]  # RQ_SERIALIZER, as the bench's queue
    if processes > 1:
        return [*python, "rq.cli", "worker-pool", *url, "-n", str(processes), QUEUE]
    return [*python, "rq.cli", "worker", *url, QUEUE]


def cpu_seconds(package: str, rounds: int) -> float:
    """The CPU time of one hash_chain(rounds) in this process (best of 3)."""
    hash_chain = importlib.import_module(f"{package}.tasks").hash_chain
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        hash_chain(rounds)
        best = min(best, time.process_time() - start)
    return best


def rounds_for(package: str, seconds: float) -> int:
    """How many hash_chain rounds take about `seconds` of CPU here."""
    return max(1, round(20_000 * seconds / max(cpu_seconds(package, 20_000), 1e-6)))


def wait_for_workers(queue: Queue, count: int, process: Background) -> None:
    """Wait until `count` workers listen on `queue`; a BenchError if the command exits."""
    from rq import Worker

    def read() -> int:
        if not process.running:
            said = last_line(process.output()) or f"exit code {process.process.returncode}"
            raise BenchError(f"{' '.join(process.command[1:4])} did not start: {said}",
                             unwritten=NOT_DONE in said)  # fmt: skip
        return Worker.count(queue=queue)

    poll(read, lambda n: n >= count, f"{count} workers to start", START_TIMEOUT)


def wait_for_jobs(queue: Queue, jobs: int, process: Background, timeout: float) -> None:
    """Wait until `jobs` jobs of `queue` have ended; a BenchError if one failed."""

    def read() -> int:
        if queue.failed_job_registry.count:
            said = last_line(process.settled_output(), "Error") or "see the worker's log"
            raise BenchError(f"a job failed in {' '.join(process.command[1:4])}: {said}")
        return queue.finished_job_registry.count

    poll(read, lambda done: done >= jobs, f"{jobs} jobs to end", timeout)


def throughput(
    redis: Redis, worker: str, worker_class: str, processes: int, kind: str, jobs: int,
    delay: float = 0.1, rounds: int = 0, package: str = "lab",
) -> Run:  # fmt: skip
    """Time `jobs` jobs of `kind` through `processes` workers of `worker_class`, run by
    the lab's worker command or RQ's stock one (`worker`: "lab" or "rq")."""
    from rq import Queue
    from rq.job import Job

    queue = bench_queue(QUEUE, redis)
    reset(queue)
    if kind == "cpu":
        call = Queue.prepare_data(f"{package}.tasks.hash_chain", (rounds,))
        job_s = cpu_seconds(package, rounds)
    else:
        job_s = delay if kind == "sleep" else 0.0
        call = Queue.prepare_data(f"{package}.tasks.send_fake_email", (EMAIL, job_s))
    with Background("bench-worker", command(worker, worker_class, processes, package)) as process:
        wait_for_workers(queue, processes, process)
        start = time.time()
        ids = [job.id for job in queue.enqueue_many([call] * jobs)]
        wait_for_jobs(queue, jobs, process, timeout=60 + jobs * (job_s + 1))
        done = [j for j in Job.fetch_many(ids, redis, serializer=queue.serializer) if j]
    ends = [j.ended_at.replace(tzinfo=j.ended_at.tzinfo or timezone.utc) for j in done]
    seconds = max(end.timestamp() for end in ends) - start
    reset(queue)
    return Run(worker, worker_class, processes, kind, jobs, job_s=round(job_s, 4),
               seconds=round(seconds, 4), jobs_per_s=round(jobs / seconds, 3),
               workers_used=len({j.worker_name for j in done}))  # fmt: skip

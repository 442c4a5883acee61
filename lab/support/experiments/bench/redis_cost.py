"""PROVIDED: how far one Redis goes - commands per job, commands per second, the ceiling.

- `commands_per_job()` reads Redis's own `INFO commandstats` before and after jobs run:
  the commands that enqueue a job (one `queue.enqueue()` each), and the commands a
  running worker sends to dequeue, start and finish one. It waits for the jobs by reading
  the worker's log, so that the wait adds no command; an idle window of the same length
  is measured and taken off.
- `commands_per_second()` measures what this Redis does: `valkey-benchmark` or
  `redis-benchmark` when one is on PATH, else a pipelined loop from this process (a
  lower bound: the client is Python, on the same cores as the server).
- `enqueue_rates()` times `jobs` jobs queued one `enqueue()` at a time against one
  `enqueue_many()` (one pipeline).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections import Counter, namedtuple
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from lab.support.experiments.bench.workers import QUEUE, wait_for_workers
from lab.support.experiments.harness import EMAIL, BenchError, bench_queue, reset
from lab.support.servers.processes import Background, poll

if TYPE_CHECKING:
    from redis import Redis

IGNORED = {"info", "config|resetstat"}  # what this module sends to read the counts


def command_counts(redis: Redis) -> Counter[str]:
    """Calls of each command since Redis started (or since CONFIG RESETSTAT)."""
    stats = redis.info("commandstats").items()
    return Counter({name.removeprefix("cmdstat_"): s["calls"] for name, s in stats})


def per_job(before: Counter[str], after: Counter[str], jobs: int) -> dict[str, float]:
    """The commands sent between two counts, per job, largest first; without IGNORED."""
    sent = after - before
    for name in IGNORED:
        sent.pop(name, None)
    return {name: round(calls / jobs, 2) for name, calls in sent.most_common()}


@dataclass
class JobCommands:
    """The Redis commands of one job's life, by command name, per job."""

    enqueue: dict[str, float]  # sent by the producer: one queue.enqueue()
    work: dict[str, float]  # sent by the worker: dequeue, start, run, finish (keep the result)
    jobs: int

    @property
    def total(self) -> float:
        return round(sum(self.enqueue.values()) + sum(self.work.values()), 1)


def commands_per_job(redis: Redis, package: str = "lab", jobs: int = 200) -> JobCommands:
    """Count the commands of `jobs` no-op jobs through one SimpleWorker of the lab."""
    queue = bench_queue(QUEUE, redis)
    reset(queue)
    func = f"{package}.tasks.send_fake_email"
    before = command_counts(redis)
    queued = [queue.enqueue(func, EMAIL, 0) for _ in range(jobs)]
    enqueue = per_job(before, command_counts(redis), jobs)
    for job in queued:
        job.delete()
    command = [sys.executable, "-m", f"{package}.worker", QUEUE, "--simple"]
    with Background("bench-worker", command) as worker:
        wait_for_workers(queue, 1, worker)
        time.sleep(0.2)  # let it settle into its blocking wait
        before, started = command_counts(redis), time.monotonic()
        for _ in range(jobs):
            queue.enqueue(func, EMAIL, 0)
        done = lambda: worker.output().count("Job OK") if worker.running else -1  # noqa: E731
        poll(done, lambda n: n < 0 or n >= jobs, f"the worker to finish {jobs} jobs", 60)
        window = time.monotonic() - started
        busy = command_counts(redis) - before
        before = command_counts(redis)
        time.sleep(window)  # as long again, with nothing queued
        idle = command_counts(redis) - before
    reset(queue)
    sent = busy - idle - Counter({name: calls * jobs for name, calls in enqueue.items()})
    work = per_job(Counter(), sent, jobs)
    return JobCommands(enqueue=enqueue, work={k: v for k, v in work.items() if v}, jobs=jobs)


Rate = namedtuple("Rate", "commands_per_s method")  # commands per second, and how measured


def commands_per_second(redis: Redis, url: str, seconds: float = 1.0) -> Rate:
    """What this Redis does per second, pipelined: a benchmark tool if one is installed,
    else a pipelined INCR loop from this process."""
    tool = shutil.which("valkey-benchmark") or shutil.which("redis-benchmark")
    parts = urlsplit(url)
    if tool and parts.scheme == "redis" and not parts.password:
        options = ["-P", "16", "-c", "50", "-t", "incr"]
        command = [
            tool, "-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 6379),
            "--dbnum", parts.path.strip("/") or "0", "-n", "200000", *options, "-q", "--csv",
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        redis.delete("counter:__rand_int__")  # the one key its INCR test writes
        rates = [line.split(",") for line in result.stdout.splitlines() if "INCR" in line]
        if result.returncode == 0 and rates:
            value = float(rates[0][1].strip('"'))
            return Rate(value, f"{Path(tool).name} {' '.join(options)}")

    def pipelined() -> None:
        with redis.pipeline(transaction=False) as pipe:
            for _ in range(1000):
                pipe.incr("bench:ops")
            pipe.execute()

    done = rate(pipelined, 1000, seconds)
    redis.delete("bench:ops")
    return Rate(done, "pipelined INCR from Python: a lower bound")


def round_trips_per_second(redis: Redis, seconds: float = 0.5) -> float:
    """PINGs per second from one client, each waiting for its answer."""
    return rate(redis.ping, 1, seconds)


def rate(call: Callable[[], object], each: int, seconds: float) -> float:
    """How many times per second call() ran, called for `seconds` (`each`: per call)."""
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        call()
        count += each
    return round(count / (time.perf_counter() - started))


EnqueueRate = namedtuple("EnqueueRate", "method jobs seconds jobs_per_s")


def enqueue_rates(redis: Redis, package: str = "lab", jobs: int = 1000) -> list[EnqueueRate]:
    """`jobs` jobs queued with enqueue() one at a time, then with one enqueue_many()."""
    from rq import Queue

    queue = bench_queue(QUEUE, redis)
    func = f"{package}.tasks.send_fake_email"
    rates = []
    for method in ("enqueue", "enqueue_many"):
        reset(queue)
        started = time.perf_counter()
        if method == "enqueue":
            queued = [queue.enqueue(func, EMAIL, 0) for _ in range(jobs)]
        else:
            queued = queue.enqueue_many([Queue.prepare_data(func, (EMAIL, 0))] * jobs)
        seconds = time.perf_counter() - started
        if queue.count != jobs:
            raise BenchError(f"{method} queued {queue.count} jobs, not {jobs}")
        rates.append(EnqueueRate(method, jobs, round(seconds, 4), round(jobs / seconds)))
        pipe = redis.pipeline(transaction=False)
        for job in queued:
            job.delete(pipeline=pipe)
        pipe.execute()
    reset(queue)
    return rates

"""PROVIDED: one library's throughput, measured in a child process of `python -m lab bench
peers` (`python -m lab.support.experiments.peers.runner LIBRARY [--quick]`).

On its own private Redis (session.Session), `runs` times each:

- single enqueue: `count` no-op emails, one call each (the library's idiomatic call),
  each call timed: jobs/s, p50 and p99 in ms;
- bulk enqueue: `count` emails through the library's bulk call (or, where it has none,
  its single calls gathered by asyncio): jobs/s;
- for each worker configuration (--quick: the default one only): `noop` no-op emails
  enqueued first, then the worker started; jobs/s from the first finish to the last
  (the worker's start-up excluded);
- for each configuration made 8-way: `sleep` emails of `delay` s each, enqueued first;
  seconds from the first job's start (its finish less `delay`) to the last finish,
  against the ideal sleep × delay / 8.

Finish times are the emails' own Redis writes (common.finished()), read the same way for
every library.
"""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import dataclass

from lab.support.experiments.peers.common import Config
from lab.support.experiments.peers.session import Session, main

WAYS = 8


@dataclass(frozen=True)
class Sizes:
    runs: int
    count: int
    """single and bulk enqueues per run"""
    noop: int
    sleep: int
    delay: float


FULL = Sizes(runs=3, count=2000, noop=500, sleep=200, delay=0.1)
QUICK = Sizes(runs=1, count=200, noop=100, sleep=40, delay=0.05)


def spread(values: list[float], digits: int = 1) -> dict:
    """The median of repeated runs, their least and greatest, and every run."""
    return {
        "median": round(statistics.median(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
        "runs": [round(value, digits) for value in values],
    }


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def shown(argv: list[str]) -> str:
    """A worker's command as one types it: `python -m ...`, the URL left as a variable."""
    parts = ["python" if part == sys.executable else part for part in argv]
    return " ".join(parts)


def enqueue_rows(session: Session, sizes: Sizes) -> tuple[dict, dict]:
    peer = session.peer
    rates, p50s, p99s, bulks = [], [], [], []
    for _ in range(sizes.runs):
        session.flush()
        latencies = peer.single(sizes.count)
        rates.append(len(latencies) / sum(latencies))
        p50s.append(percentile(latencies, 0.5) * 1000)
        p99s.append(percentile(latencies, 0.99) * 1000)
        session.flush()
        bulks.append(sizes.count / peer.bulk(sizes.count))
    single = {
        "call": peer.single_call,
        "jobs": sizes.count,
        "jobs_per_s": spread(rates, 0),
        "p50_ms": spread(p50s, 3),
        "p99_ms": spread(p99s, 3),
    }
    bulk = {
        "call": peer.bulk_call,
        "real_bulk": peer.real_bulk,
        "jobs": sizes.count,
        "jobs_per_s": spread(bulks, 0),
    }
    return single, bulk


def worker_run(
    session: Session, argv: list[str], settings: dict, jobs: int, delay: float, env: dict
) -> tuple[int, list[float]]:
    """`jobs` emails enqueued, then the worker started; (emails finished, their finish
    times): more finished than jobs when the library ran a job twice."""
    session.flush()
    session.peer.bulk(jobs, delay)
    worker = session.start_worker(argv, settings, env)
    try:
        session.wait_done(jobs, timeout=120 + jobs * max(delay, 0.2), worker=worker)
    finally:
        session.stop(worker)
        session.settle()
    times = session.done()
    return len(times), times


def config_row(session: Session, config: Config, sizes: Sizes) -> dict:
    rates, finished_noop = [], []
    for _ in range(sizes.runs):
        finished, times = worker_run(
            session, config.noop, config.noop_settings, sizes.noop, 0, config.env
        )
        finished_noop.append(finished)
        if len(times) > 1:
            rates.append((len(times) - 1) / (max(times) - min(times)))
    seconds, finished_sleep = [], []
    for _ in range(sizes.runs):
        finished, times = worker_run(
            session, config.eight, config.eight_settings, sizes.sleep, sizes.delay, config.env
        )
        finished_sleep.append(finished)
        if times:
            seconds.append(max(times) - min(times) + sizes.delay)
    return {
        "configuration": config.name,
        "concurrency": config.concurrency,
        "worker": shown(config.noop),
        "worker_settings": config.noop_settings,
        "noop": {
            "jobs": sizes.noop,
            "finished": min(finished_noop),
            "jobs_per_s": spread(rates or [0.0], 0),
        },
        "sleep": {
            "worker": shown(config.eight),
            "worker_settings": config.eight_settings,
            "ways": WAYS,
            "jobs": sizes.sleep,
            "delay_s": sizes.delay,
            "ideal_s": round(sizes.sleep * sizes.delay / WAYS, 3),
            "finished": min(finished_sleep),
            "seconds": spread(seconds or [0.0], 2),
        },
    }


def measure(argv: list[str]) -> dict:
    library, quick = argv[0], "--quick" in argv
    sizes = QUICK if quick else FULL
    started = time.monotonic()
    with Session(library) as session:
        single, bulk = enqueue_rows(session, sizes)
        configs = session.peer.configs[:1] if quick else session.peer.configs
        configs = [config_row(session, config, sizes) for config in configs]
        return {
            "library": library,
            "version": session.version,
            "runs": sizes.runs,
            "single": single,
            "bulk": bulk,
            "configs": configs,
            "seconds": round(time.monotonic() - started, 1),
        }


if __name__ == "__main__":
    sys.exit(main(measure))

"""PROVIDED: `python -m lab bench stats` - what GET /stats and GET /metrics cost (step 09).

It fills the registries of a queue of its own (bench-stats) with jobs as RQ leaves them -
40% finished (half of them in the last minute), 20% failed, 20% queued, 10% scheduled,
10% deferred - written straight to Redis with RQ's own objects, in pipelines, rather than
run through a worker. It starts `uvicorn <package>.producer:app` serving that queue
(QUEUE_NAME=bench-stats) and one idle worker (`python -m <package>.worker
bench-stats-idle --simple`), so that the workers part of the answer is not empty.

At each size (the jobs in the registries: 0, a tenth of --jobs and --jobs by default) it
first checks that RQ's counts, GET /stats's and GET /metrics's all equal what it placed,
then times `requests` GETs of /stats and of /metrics one after another, and, in this
process, read_stats() (what both endpoints call) and finished_since() alone: where the
time goes. At the end it deletes every job and key it made; the other queues GET /stats
shows (high, low, JOB_QUEUES) are only read.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from lab.support.experiments.bench.report import percentile
from lab.support.experiments.bench.settings import (
    EMAIL,
    IDLE_QUEUE,
    STATS_QUEUE,
    BenchError,
    add_package_argument,
    run_and_report,
)

if TYPE_CHECKING:
    from redis import Redis
    from rq import Queue

#: `--help`'s description: this docstring without its first line.
DESCRIPTION = __doc__.split("\n", 2)[2]

#: How the jobs of each size are shared out among the statuses (the rest: finished).
SHARES = {"finished": 0.4, "failed": 0.2, "queued": 0.2, "scheduled": 0.1, "deferred": 0.1}
#: The statuses GET /stats counts (lab.support.queueing.monitor.STATUSES), in its order.
#: Seconds every job the bench writes lives at most (its result_ttl, failure_ttl and key
#: expiry): a run stopped by SIGKILL leaves nothing behind for longer than this.
JOB_TTL = 3600
#: Jobs written per pipeline.
BATCH = 1000

FIELDS = {
    "jobs": "jobs in the bench queue's list and registries while this row was measured",
    "what": "GET /stats or GET /metrics (over HTTP, one request after another), or"
    " read_stats() / finished_since() called in this process",
    "requests": "calls timed",
    "p50_ms p95_ms max_ms": "latency percentiles, in milliseconds",
    "bytes": "the answer's size (null for the in-process calls)",
}
SIZE_FIELDS = {
    "jobs": "the size",
    "placed": "jobs placed by status (started and canceled: 0)",
    "rq_counts": "RQ's own counts: queue.count, registry.get_job_count(cleanup=False)",
    "stats_counts": "the bench queue's counts in GET /stats",
    "metrics_counts": "its rq_jobs samples in GET /metrics",
    "finished_last_minute": "{expected, stats}: the bench queue's finished jobs that ended"
    " in the minute before GET /stats's `at`, and what GET /stats said of it (less the"
    " other served queues' own)",
    "fill_s": "seconds taken to write this size's new jobs",
}


@dataclass(frozen=True)
class StatsBenchSettings:
    jobs: int = 10_000
    """The most jobs in the registries: the last size."""
    sizes: tuple[int, ...] = (0, 1_000, 10_000)
    requests: int = 50
    """GETs timed per endpoint per size (and calls of each in-process function)."""
    package: str = "lab"


@dataclass
class Placed:
    """What the bench wrote so far: ids, counts by status, when each finished job ended."""

    ids: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    """Jobs placed so far, by status."""
    finished_ends: list[str] = field(default_factory=list)
    """The ended_at of each finished job, as RQ writes it (fixed-width UTC text)."""


def split(jobs: int) -> dict[str, int]:
    """`jobs` shared out among the statuses of SHARES; the rounding's rest is finished."""
    counts = {status: int(jobs * share) for status, share in SHARES.items()}
    counts["finished"] += jobs - sum(counts.values())
    return counts


def sizes_from(text: str | None, jobs: int) -> tuple[int, ...]:
    """--sizes "0,1000,10000" as numbers, with --jobs the largest; default 0, jobs/10, jobs."""
    try:
        given = [int(part) for part in text.split(",")] if text else [0, jobs // 10]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--sizes: whole numbers, not {text!r}") from None
    if any(size < 0 or size > jobs for size in given):
        raise argparse.ArgumentTypeError(f"--sizes: each from 0 to --jobs ({jobs}), not {text}")
    return tuple(sorted({*given, jobs}))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    default = StatsBenchSettings()
    parser.add_argument(
        "--jobs",
        type=int,
        default=default.jobs,
        metavar="N",
        help=f"jobs placed in the registries at the largest size (default {default.jobs})",
    )
    parser.add_argument(
        "--sizes",
        metavar="A,B,...",
        help="the sizes measured, each up to --jobs (default 0, a tenth of --jobs, --jobs)",
    )
    parser.add_argument(
        "--requests",
        type=int,
        default=default.requests,
        metavar="K",
        help=f"GETs timed per endpoint and size (default {default.requests})",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results")
    add_package_argument(parser, "producer.py, stats.py and worker.py")


# --- filling -------------------------------------------------------------------------------


def fill(queue: Queue, jobs: int, placed: Placed, package: str) -> None:
    """Write `jobs` more jobs to `queue`'s list and registries, shared out as SHARES says,
    each as RQ leaves it: the job's hash (status, times) and its place in the list or
    registry, with RQ's scores. Adds them to `placed`."""
    from rq.job import Job, JobStatus
    from rq.registry import FinishedJobRegistry

    counts = split(jobs)
    now = datetime.now(timezone.utc)
    func, args = f"{package}.tasks.send_fake_email", (EMAIL, 0)
    plan = [status for status, count in counts.items() for _ in range(count)]
    finished = FinishedJobRegistry(queue=queue)
    parents: list[str] = []
    for start in range(0, len(plan), BATCH):
        with queue.connection.pipeline(transaction=False) as pipe:
            for status in plan[start : start + BATCH]:
                depends = random.choice(parents) if status == "deferred" else None
                job = Job.create(
                    func, args=args, connection=queue.connection, origin=queue.name,
                    status=JobStatus(status), result_ttl=JOB_TTL, failure_ttl=JOB_TTL,
                    depends_on=depends, serializer=queue.serializer,
                )  # fmt: skip
                job.enqueued_at = now - timedelta(seconds=random.uniform(0, 600))
                if status in ("finished", "failed"):
                    # Half of them ended in the last 40 s, half 2 to 30 minutes ago.
                    recent = len(placed.finished_ends) % 2 == 0 or status == "failed"
                    ago = random.uniform(1, 40) if recent else random.uniform(120, 1800)
                    job.ended_at = now - timedelta(seconds=ago)
                    job.started_at = job.ended_at - timedelta(milliseconds=5)
                    job.worker_name = "bench-stats"
                if status == "queued":
                    job.save(pipeline=pipe)
                    queue.push_job_id(job.id, pipeline=pipe)
                    parents.append(job.id)
                elif status == "finished":
                    job.save(pipeline=pipe)
                    # RQ's score: when the job ended + its result_ttl.
                    left = JOB_TTL - int((now - job.ended_at).total_seconds())
                    finished.add(job, left, pipeline=pipe)
                    placed.finished_ends.append(_utc_text(job.ended_at))
                elif status == "failed":
                    queue.failed_job_registry.add(
                        job, JOB_TTL, exc_string="ValueError: bench", pipeline=pipe
                    )
                elif status == "scheduled":
                    job.save(pipeline=pipe)
                    due = now + timedelta(seconds=random.uniform(300, 3000))
                    queue.scheduled_job_registry.schedule(job, due, pipeline=pipe)
                else:  # deferred: waits for a queued job
                    job.save(pipeline=pipe)
                    job.register_dependency(pipeline=pipe)
                job.cleanup(JOB_TTL, pipeline=pipe)
                placed.ids.append(job.id)
            pipe.execute()
    for status, count in counts.items():
        placed.counts[status] += count


def _utc_text(moment: datetime) -> str:
    from rq.utils import utcformat

    return utcformat(moment)


def reset(queue: Queue, placed: Placed | None = None) -> None:
    """Delete the bench queue's list, intermediate list and registries, and their jobs and
    those in `placed` (with their dependency sets and results), with plain DELs: RQ's own
    delete reads each job's execution, which a killed worker's may have lost. Also what an
    earlier run stopped part way left behind. `bench abandoned` empties its queue so too."""
    from rq.job import Job

    from lab.support.queueing.monitor import STATUSES

    connection = queue.connection
    registries = [getattr(queue, f"{status}_job_registry").key for status in STATUSES[1:]]
    ids = list(placed.ids) if placed else []
    for key in registries:  # a run that was killed: its jobs are still listed here
        # A started registry's entries are <job id>:<execution id>.
        ids += [i.decode().split(":")[0] for i in connection.zrange(key, 0, -1)]
    ids += queue.get_job_ids()
    with connection.pipeline(transaction=False) as pipe:
        for start in range(0, len(ids), BATCH):
            keys = []
            for job_id in ids[start : start + BATCH]:
                # RQ's names, its double colon included: rq:job::<id>:dependencies.
                dependencies = f"{Job.redis_job_namespace_prefix}:{job_id}:dependencies"
                results = f"rq:results:{job_id}"
                keys += [Job.key_for(job_id), Job.dependents_key_for(job_id), dependencies, results]
            pipe.delete(*keys)
        workers = f"rq:workers:{queue.name}"  # its workers' names (RQ's registration)
        pipe.delete(queue.key, queue.intermediate_queue_key, workers, *registries)
        pipe.srem(queue.redis_queues_keys, queue.key)
        pipe.execute()


# --- checking ------------------------------------------------------------------------------


def metrics_counts(text: str, queue_name: str) -> dict[str, int]:
    """The rq_jobs samples of `queue_name` in GET /metrics's text, by status."""
    from prometheus_client.parser import text_string_to_metric_families

    counts = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "rq_jobs" and sample.labels["queue"] == queue_name:
                counts[sample.labels["status"]] = int(sample.value)
    return counts


def check(queue: Queue, client, placed: Placed, package: str) -> dict:
    """RQ's counts, GET /stats's and GET /metrics's for the bench queue, each equal to
    what was placed, and GET /stats's finished_last_minute equal to the placed finished
    jobs of the last minute (plus the other served queues'): a BenchError if not."""
    from lab.support.api import served_queues, sibling_queue
    from lab.support.queueing.monitor import STATUSES, finished_since, rq_counts

    expected = {status: placed.counts[status] for status in STATUSES}
    counted = rq_counts(queue)
    answer = _get(client, "/stats", package).json()
    stats = next((q for q in answer["queues"] if q["name"] == queue.name), None)
    if stats is None:
        shown = [q["name"] for q in answer["queues"]]
        raise BenchError(
            f"GET /stats shows the queues {shown}, not {queue.name!r}: does {package}/"
            "connection.py's get_queue() use the QUEUE_NAME setting?"
        )
    stats_counts = {status: stats[status] for status in STATUSES}
    shown_metrics = metrics_counts(_get(client, "/metrics", package).text, queue.name)
    at = datetime.fromisoformat(answer["at"])
    cutoff = _utc_text(at - timedelta(minutes=1))
    others = [sibling_queue(queue, n) for n in served_queues(queue) if n != queue.name]
    recent = sum(1 for ended in placed.finished_ends if ended >= cutoff)
    ours = answer["finished_last_minute"] - finished_since(others, at - timedelta(minutes=1))
    for name, seen in [
        ("RQ's counts", counted),
        ("GET /stats", stats_counts),
        ("GET /metrics", shown_metrics),
    ]:
        if seen != expected:
            raise BenchError(f"{name} of {queue.name}: {seen}; the bench placed {expected}")
    if ours != recent:
        raise BenchError(
            f"GET /stats: {ours} jobs of {queue.name} finished in the last minute; the"
            f" bench placed {recent}"
        )
    return {
        "placed": expected,
        "rq_counts": counted,
        "stats_counts": stats_counts,
        "metrics_counts": shown_metrics,
        "finished_last_minute": {"expected": recent, "stats": ours},
    }


def _get(client, path: str, package: str):
    response = client.get(path)
    if response.status_code == 501:  # a stub: its answer names the function
        raise BenchError(f"GET {path} answered 501: {response.json()['detail']}", unwritten=True)
    if not response.is_success:
        raise BenchError(f"GET {path} answered {response.status_code}: {response.text[:200]}")
    return response


# --- timing --------------------------------------------------------------------------------


def timed(call, requests: int) -> list[float]:
    """Seconds of each of `requests` calls of `call()`, after one untimed call."""
    call()
    times = []
    for _ in range(requests):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times


def row(jobs: int, what: str, times: list[float], size: int | None = None) -> dict:
    return {
        "jobs": jobs,
        "what": what,
        "requests": len(times),
        "p50_ms": round(percentile(times, 50) * 1000, 3),
        "p95_ms": round(percentile(times, 95) * 1000, 3),
        "max_ms": round(max(times) * 1000, 3),
        "bytes": size,
    }


def measure_size(queue: Queue, client, jobs: int, s: StatsBenchSettings) -> list[dict]:
    """The four rows of one size: GET /stats, GET /metrics, read_stats(), finished_since()."""
    import importlib

    from lab.support.api import served_queues, sibling_queue
    from lab.support.queueing.monitor import finished_since

    read_stats = importlib.import_module(f"{s.package}.stats").read_stats
    rows = []
    for path in ("/stats", "/metrics"):
        size = len(_get(client, path, s.package).content)
        rows.append(row(jobs, f"GET {path}", timed(lambda p=path: client.get(p), s.requests), size))
    queues = [sibling_queue(queue, name) for name in served_queues(queue)]
    since = lambda: datetime.now(timezone.utc) - timedelta(minutes=1)  # noqa: E731
    rows.append(row(jobs, "read_stats()", timed(lambda: read_stats(queue), s.requests)))
    rows.append(
        row(jobs, "finished_since()", timed(lambda: finished_since(queues, since()), s.requests))
    )
    return rows


# --- the run -------------------------------------------------------------------------------


def measure(s: StatsBenchSettings, progress: bool | None = None) -> dict:
    """Every size: fill, check, time. Cleans up whatever happens."""
    import httpx
    from redis import Redis
    from tqdm import tqdm

    from lab.support.config import get_settings
    from lab.support.course.stubs import NOT_DONE
    from lab.support.experiments.bench.processes import check_redis
    from lab.support.experiments.bench.workers import usable_cores
    from lab.support.experiments.bench.workers_cli import unwritten_guard
    from lab.support.queueing.serializer import (
        SettingQueue as Queue,  # RQ_SERIALIZER, as the workers'
    )
    from lab.support.servers.processes import last_line, start_api, start_worker

    check_redis()
    redis: Redis = Redis.from_url(get_settings().redis_url, socket_timeout=30)
    queue = Queue(STATS_QUEUE, connection=redis)
    reset(queue)
    placed, sizes, rows = Placed(), [], []
    worker = api = None
    disable = None if progress is None else not progress
    try:
        try:
            worker = start_worker(IDLE_QUEUE, "--simple", package=s.package)
        except (RuntimeError, TimeoutError) as exc:
            said = last_line(str(exc))
            raise BenchError(
                f"python -m {s.package}.worker did not start: {said}", unwritten=NOT_DONE in said
            ) from None
        stats = unwritten_guard(lambda: _import_stats(s.package), s.package)
        unwritten_guard(lambda: stats.read_stats(queue), s.package)  # a TODO stops it here
        try:
            api = start_api(s.package, env={"QUEUE_NAME": STATS_QUEUE})
        except (RuntimeError, TimeoutError) as exc:
            said = last_line(str(exc))
            raise BenchError(f"uvicorn {s.package}.producer:app did not start: {said}") from None
        with (
            httpx.Client(base_url=api.url, timeout=30) as client,
            tqdm(total=len(s.sizes), unit="size", disable=disable, file=sys.stderr) as bar,
        ):
            for size in s.sizes:
                bar.set_description(f"{size:,} jobs: filling")
                start = time.perf_counter()
                fill(queue, size - len(placed.ids), placed, s.package)
                fill_s = time.perf_counter() - start
                bar.set_description(f"{size:,} jobs: checking")
                checked = check(queue, client, placed, s.package)
                sizes.append({"jobs": size, **checked, "fill_s": round(fill_s, 3)})
                bar.set_description(f"{size:,} jobs: timing")
                rows += measure_size(queue, client, size, s)
                bar.update()
    finally:
        for process in (api, worker):
            if process is not None:
                process.__exit__()
        reset(queue, placed)
        # The idle worker's maintenance locks (RQ's and the recovery's) expire by
        # themselves within MAINTENANCE_INTERVAL; the bench leaves nothing behind.
        idle_keys = list(redis.scan_iter(f"*{IDLE_QUEUE}*"))
        if idle_keys:
            redis.delete(*idle_keys)
        redis.close()
    return {
        "package": s.package,
        "cores": usable_cores(),
        "requests": s.requests,
        "sizes": sizes,
        "rows": rows,
    }


def _import_stats(package: str):
    import importlib

    return importlib.import_module(f"{package}.stats")


def report(result: dict) -> str:
    """The text the command prints: one block of four rows per size."""
    by_size = {size["jobs"]: size for size in result["sizes"]}
    lines = [
        f"uvicorn {result['package']}.producer:app (one process), one idle worker;"
        f" {result['requests']} calls per row, one after another; {result['cores']} cores",
        "",
        f"{'jobs':>7}  {'what':<18}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'bytes':>8}",
    ]
    previous = None
    for r in result["rows"]:
        if r["jobs"] != previous:
            placed = by_size[r["jobs"]]["placed"]
            shown = ", ".join(f"{placed[s]:,} {s}" for s in SHARES if placed[s])
            lines += ["", f"{r['jobs']:>7,}  ({shown or 'empty registries'})"]
            previous = r["jobs"]
        size = "" if r["bytes"] is None else f"{r['bytes']:,}"
        lines.append(
            f"{'':>7}  {r['what']:<18}{r['p50_ms']:>9.2f}{r['p95_ms']:>9.2f}"
            f"{r['max_ms']:>9.2f}{size:>8}"
        )
    lines += [
        "",
        "At every size RQ's counts, GET /stats's and GET /metrics's equalled the jobs placed.",
    ]
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    """Run the stats bench as `args` say; print the report (and write the JSON)."""

    try:
        sizes = sizes_from(args.sizes, args.jobs)
    except argparse.ArgumentTypeError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    settings = StatsBenchSettings(
        jobs=args.jobs, sizes=sizes, requests=max(1, args.requests), package=args.package or "lab"
    )
    return run_and_report(
        measure,
        settings,
        args.package is None,
        report,
        lambda result: f"{len(result['sizes'])} sizes",
        args.json,
    )

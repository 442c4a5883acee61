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
import importlib
import random
import sys
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from lab.support.experiments import harness
from lab.support.experiments.harness import percentile

if TYPE_CHECKING:
    import httpx
    from rq import Queue

HELP = "measure GET /stats and GET /metrics with up to 10,000 jobs in RQ's registries (step 09)"

QUEUE = "bench-stats"  # whose list and registries `python -m lab bench stats` fills
IDLE_QUEUE = "bench-stats-idle"  # its idle worker's: always empty
#: How the jobs of each size are shared out among the statuses (the rest: finished).
SHARES = {"finished": 0.4, "failed": 0.2, "queued": 0.2, "scheduled": 0.1, "deferred": 0.1}
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
JSON = "--json PATH writes {package, cores, requests, sizes, rows}; each row has:"
EACH_SIZE = harness.fields_help("each size has:", SIZE_FIELDS, 22)
EPILOG = harness.fields_help(JSON, FIELDS, 22) + "\n" + EACH_SIZE


@dataclass(frozen=True)
class StatsBenchSettings:
    jobs: int = 10_000  # the most jobs in the registries: the last size
    sizes: tuple[int, ...] = (0, 1_000, 10_000)
    requests: int = 50  # GETs timed per endpoint per size (and calls of each function)
    package: str = "lab"


@dataclass
class Placed:
    """What the bench wrote so far: ids, counts by status, when each finished job ended."""

    ids: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    finished_ends: list[str] = field(default_factory=list)  # as RQ writes them: UTC text


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
    add, default = parser.add_argument, StatsBenchSettings()
    most = f"jobs placed in the registries at the largest size (default {default.jobs})"
    add("--jobs", type=int, default=default.jobs, metavar="N", help=most)
    sizes = "the sizes measured, each up to --jobs (default 0, a tenth of --jobs, --jobs)"
    add("--sizes", metavar="A,B,...", help=sizes)
    timed = f"GETs timed per endpoint and size (default {default.requests})"
    add("--requests", type=int, default=default.requests, metavar="K", help=timed)
    files = "producer.py, stats.py and worker.py"
    harness.add_common_arguments(parser, files, "also write the results")


def fill(queue: Queue, jobs: int, placed: Placed, package: str) -> None:
    """Write `jobs` more jobs to `queue`'s list and registries, shared out as SHARES says,
    each as RQ leaves it: the job's hash (status, times) and its place in the list or
    registry, with RQ's scores. Adds them to `placed`."""
    from rq.job import Job, JobStatus
    from rq.utils import utcformat

    counts = split(jobs)
    now = datetime.now(timezone.utc)
    func, args = f"{package}.tasks.send_fake_email", (harness.EMAIL, 0)
    plan = [status for status, count in counts.items() for _ in range(count)]
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
                if status == "failed":
                    queue.failed_job_registry.add(
                        job, JOB_TTL, exc_string="ValueError: bench", pipeline=pipe
                    )
                else:
                    job.save(pipeline=pipe)
                if status == "queued":
                    queue.push_job_id(job.id, pipeline=pipe)
                    parents.append(job.id)
                elif status == "finished":
                    # RQ's score: when the job ended + its result_ttl.
                    left = JOB_TTL - int((now - job.ended_at).total_seconds())
                    queue.finished_job_registry.add(job, left, pipeline=pipe)
                    placed.finished_ends.append(utcformat(job.ended_at))
                elif status == "scheduled":
                    due = now + timedelta(seconds=random.uniform(300, 3000))
                    queue.scheduled_job_registry.schedule(job, due, pipeline=pipe)
                elif status == "deferred":  # waits for a queued job
                    job.register_dependency(pipeline=pipe)
                job.cleanup(JOB_TTL, pipeline=pipe)
                placed.ids.append(job.id)
            pipe.execute()
    placed.counts.update(counts)


def metrics_counts(text: str, queue_name: str) -> dict[str, int]:
    """The rq_jobs samples of `queue_name` in GET /metrics's text, by status."""
    from prometheus_client.parser import text_string_to_metric_families

    return {
        sample.labels["status"]: int(sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "rq_jobs" and sample.labels["queue"] == queue_name
    }


def others(queue: Queue) -> list[Queue]:
    """The queues GET /stats serves besides `queue`."""
    from lab.support.api import served_queues, sibling_queue

    return [sibling_queue(queue, name) for name in served_queues(queue) if name != queue.name]


def check(queue: Queue, client: httpx.Client, placed: Placed, package: str) -> dict:
    """RQ's counts, GET /stats's and GET /metrics's for the bench queue, each equal to
    what was placed, and GET /stats's finished_last_minute equal to the placed finished
    jobs of the last minute (plus the other served queues'): a BenchError if not."""
    from rq.utils import utcformat

    from lab.support.queueing.monitor import STATUSES, finished_since, rq_counts

    expected = {status: placed.counts[status] for status in STATUSES}
    counted = rq_counts(queue)
    answer = harness.answered(client.get("/stats")).json()
    stats = next((q for q in answer["queues"] if q["name"] == queue.name), None)
    if stats is None:
        shown = [q["name"] for q in answer["queues"]]
        raise harness.BenchError(
            f"GET /stats shows the queues {shown}, not {queue.name!r}: does {package}/"
            "connection.py's get_queue() use the QUEUE_NAME setting?"
        )
    stats_counts = {status: stats[status] for status in STATUSES}
    shown_metrics = metrics_counts(harness.answered(client.get("/metrics")).text, queue.name)
    minute_ago = datetime.fromisoformat(answer["at"]) - timedelta(minutes=1)
    recent = sum(1 for ended in placed.finished_ends if ended >= utcformat(minute_ago))
    ours = answer["finished_last_minute"] - finished_since(others(queue), minute_ago)
    seen = {"RQ's counts": counted, "GET /stats": stats_counts, "GET /metrics": shown_metrics}
    for name, counts in seen.items():
        if counts != expected:
            raise harness.BenchError(
                f"{name} of {queue.name}: {counts}; the bench placed {expected}"
            )
    if ours != recent:
        raise harness.BenchError(
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


def row(jobs: int, what: str, call, requests: int, size: int | None = None) -> dict:  # noqa: ANN001
    """The row of `requests` timed calls of `call()`, after one untimed call."""
    call()
    times = []
    for _ in range(requests):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    ms = {f"p{q}_ms": round(percentile(times, q), 3) for q in (50, 95)}
    return {"jobs": jobs, "what": what, "requests": len(times), **ms,
            "max_ms": round(max(times), 3), "bytes": size}  # fmt: skip


def measure_size(queue: Queue, client: httpx.Client, jobs: int, s: StatsBenchSettings) -> list:
    """The four rows of one size: GET /stats, GET /metrics, read_stats(), finished_since()."""
    from lab.support.queueing.monitor import finished_since

    read_stats = importlib.import_module(f"{s.package}.stats").read_stats
    get = lambda path: harness.answered(client.get(path))  # noqa: E731
    rows = [row(jobs, f"GET {p}", lambda p=p: get(p), s.requests, len(get(p).content))
            for p in ("/stats", "/metrics")]  # fmt: skip
    queues = [queue, *others(queue)]
    since = lambda: datetime.now(timezone.utc) - timedelta(minutes=1)  # noqa: E731
    rows.append(row(jobs, "read_stats()", lambda: read_stats(queue), s.requests))
    rows.append(row(jobs, "finished_since()", lambda: finished_since(queues, since()), s.requests))
    return rows


def measure(s: StatsBenchSettings, progress: bool | None = None) -> dict:
    """Every size: fill, check, time. Cleans up whatever happens."""
    import httpx
    from redis import Redis

    from lab.support.config import get_settings
    from lab.support.experiments.bench.workers import usable_cores
    from lab.support.servers.processes import start_api, start_worker

    harness.check_redis()
    redis = Redis.from_url(get_settings().redis_url, socket_timeout=30)
    queue = harness.bench_queue(QUEUE, redis)
    harness.reset(queue)
    placed, sizes, rows = Placed(), [], []
    with ExitStack() as stack:

        @stack.callback  # last, once the processes stopped
        def clean() -> None:
            harness.reset(queue, placed.ids)
            # The idle worker's keys; its maintenance locks (RQ's and the recovery's)
            # expire within MAINTENANCE_INTERVAL: the bench leaves nothing behind.
            harness.reset(harness.bench_queue(IDLE_QUEUE, redis))
            redis.close()

        idle = lambda: start_worker(IDLE_QUEUE, "--simple", package=s.package)  # noqa: E731
        stack.enter_context(harness.started(idle, f"python -m {s.package}.worker"))
        module = lambda: importlib.import_module(f"{s.package}.stats")  # noqa: E731
        stats = harness.unwritten_guard(module, s.package)
        harness.unwritten_guard(lambda: stats.read_stats(queue), s.package)  # a TODO stops it here
        api = lambda: start_api(s.package, env={"QUEUE_NAME": QUEUE})  # noqa: E731
        api = stack.enter_context(harness.started(api, f"uvicorn {s.package}.producer:app"))
        client = stack.enter_context(httpx.Client(base_url=api.url, timeout=30))
        with harness.progress_bar(len(s.sizes), "size", progress) as bar:
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
    cores = usable_cores()
    return {"package": s.package, "cores": cores, "requests": s.requests, "sizes": sizes,
            "rows": rows}  # fmt: skip


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
        times = f"{r['p50_ms']:>9.2f}{r['p95_ms']:>9.2f}{r['max_ms']:>9.2f}"
        lines.append(f"{'':>7}  {r['what']:<18}{times}{size:>8}")
    placed = "At every size RQ's counts, GET /stats's and GET /metrics's equalled the jobs placed."
    return "\n".join([*lines, "", placed])


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
    return harness.run_and_report(
        measure, settings, args, report, lambda r: f"{len(r['sizes'])} sizes"
    )

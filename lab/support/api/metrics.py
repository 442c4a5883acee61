"""PROVIDED: GET /metrics, the numbers of GET /stats in Prometheus' text format.

A custom collector (prometheus_client's way to export numbers that live elsewhere) reads
them when Prometheus scrapes, through lab/stats.py's read_stats(): nothing is counted in
the API's memory, so every API process answers the same.

    rq_jobs{queue, status}                       jobs by queue and status (gauge)
    rq_oldest_queued_job_age_seconds{queue}      how long the next job has waited, 0 if none
    rq_workers{state}                            workers by state
    rq_worker_heartbeat_age_seconds{worker}      seconds since each worker's last heartbeat
    rq_jobs_finished_last_minute                 jobs finished in the last 60 s
    rq_unreadable_keys                           damaged keys GET /stats could not read
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from rq import Queue
from rq.worker import WorkerStatus

from lab.support.api.deps import EmailQueue
from lab.support.queueing.monitor import STATUSES, Stats

#: Every state a worker reports, so that a state with no worker is exported as 0.
WORKER_STATES = tuple(state.value for state in WorkerStatus)


class RQCollector(Collector):
    """Exports what `read()` returns (GET /stats's answer) each time it is collected."""

    def __init__(self, read: Callable[[], dict]):
        self.read = read

    def collect(self) -> Iterator[Metric]:
        stats = Stats.model_validate(self.read())
        jobs = GaugeMetricFamily(
            "rq_jobs", "Jobs in each queue, by status.", labels=["queue", "status"]
        )
        oldest = GaugeMetricFamily(
            "rq_oldest_queued_job_age_seconds",
            "Seconds the job at the head of the queue has waited (0 when none waits).",
            labels=["queue"],
        )
        for queue in stats.queues:
            for status in STATUSES:
                jobs.add_metric([queue.name, status], getattr(queue, status))
            oldest.add_metric([queue.name], queue.oldest_queued_age or 0.0)
        workers = GaugeMetricFamily("rq_workers", "Workers, by state.", labels=["state"])
        states = [worker.state for worker in stats.workers]
        for state in dict.fromkeys([*WORKER_STATES, *states]):
            workers.add_metric([state], states.count(state))
        heartbeat = GaugeMetricFamily(
            "rq_worker_heartbeat_age_seconds",
            "Seconds since each worker's last heartbeat.",
            labels=["worker"],
        )
        for worker in stats.workers:
            if worker.seconds_since_heartbeat is not None:
                heartbeat.add_metric([worker.name], worker.seconds_since_heartbeat)
        finished = GaugeMetricFamily(
            "rq_jobs_finished_last_minute", "Jobs finished in the last 60 seconds."
        )
        finished.add_metric([], stats.finished_last_minute)
        unreadable = GaugeMetricFamily(
            "rq_unreadable_keys", "Damaged jobs or workers in Redis that could not be read."
        )
        unreadable.add_metric([], len(stats.problems))
        yield from (jobs, oldest, workers, heartbeat, finished, unreadable)


def metrics_router(read_stats: Callable[[Queue], dict]) -> APIRouter:
    """A router with GET /metrics, whose numbers `read_stats(queue)` reads at each scrape."""
    router = APIRouter()

    @router.get(
        "/metrics",
        response_class=Response,
        responses={
            200: {
                "description": "The numbers of GET /stats, in Prometheus' text format.",
                "content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}},
            }
        },
    )
    def metrics(queue: EmailQueue) -> Response:
        """For Prometheus to scrape: jobs by queue and status, the oldest queued job's age,
        workers by state, each worker's heartbeat age and the jobs finished in the last
        minute, read from Redis at each request."""
        registry = CollectorRegistry(auto_describe=False)
        registry.register(RQCollector(lambda: read_stats(queue)))
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router

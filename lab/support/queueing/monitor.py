"""PROVIDED: what GET /stats answers (step 09, lab/stats.py), and what its read_stats()
uses besides your functions: the jobs finished lately, and the queues and workers read so
that one damaged key in Redis is reported in the answer instead of failing it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from enum import Enum

from pydantic import AwareDatetime, BaseModel, Field, field_validator
from redis import Redis
from redis.exceptions import RedisError, ResponseError
from rq import Queue, Worker, worker_registration
from rq.job import Job
from rq.utils import utcformat

from lab.support.queueing.jobs import named, unreadable_detail

#: The statuses GET /stats counts for each queue: its list, then RQ's registries.
STATUSES = ("queued", "started", "finished", "failed", "scheduled", "deferred", "canceled")


def _age(seconds: float | None) -> float | None:
    """An age read against a `now` taken a moment before another process wrote the time it
    counts from can come out a few microseconds below 0: it is 0."""
    return None if seconds is None else max(seconds, 0.0)


def _count(what: str) -> Field:
    return Field(ge=0, description=what)


class QueueStats(BaseModel):
    name: str = Field(description="The queue's name.")
    queued: int = _count("Jobs waiting in the queue for a worker.")
    started: int = _count("Jobs a worker is running (StartedJobRegistry).")
    finished: int = _count("Finished jobs whose result is still kept (FinishedJobRegistry).")
    failed: int = _count("Jobs that failed and were not retried (FailedJobRegistry).")
    scheduled: int = _count("Jobs due at a later time (ScheduledJobRegistry).")
    deferred: int = _count("Jobs waiting for another job to finish (DeferredJobRegistry).")
    canceled: int = _count("Jobs canceled before they ran (CanceledJobRegistry).")
    oldest_queued_age: float | None = Field(
        description="Seconds since the job at the head of the queue (the next to run) was"
        " queued: the longest wait unless a job was put at the front. null when none waits.",
    )

    @field_validator("oldest_queued_age")
    @classmethod
    def _not_negative(cls, seconds: float | None) -> float | None:
        return _age(seconds)


class WorkerStats(BaseModel):
    name: str = Field(description="The worker's name (host and process id, by default).")
    queues: list[str] = Field(description="The queues it takes jobs from, in order.")
    state: str = Field(description="idle, busy, started or suspended.")
    current_job: str | None = Field(description="The id of the job it runs; null when idle.")
    seconds_since_heartbeat: float | None = Field(
        description="Seconds since its last heartbeat. An idle worker sends one every"
        " WORKER_TTL - 15 s; during a job, a forking Worker every 30 s (RQ's"
        " job_monitoring_interval), a SimpleWorker none until the job ends. Far more than"
        " that: the worker is stopped or stuck."
    )

    @field_validator("seconds_since_heartbeat")
    @classmethod
    def _not_negative(cls, seconds: float | None) -> float | None:
        return _age(seconds)

    @field_validator("state", mode="before")
    @classmethod
    def _plain(cls, state: object) -> object:  # RQ gives a WorkerStatus for a local worker
        return state.value if isinstance(state, Enum) else state


class Stats(BaseModel):
    at: AwareDatetime = Field(description="When these numbers were read (UTC).")
    queues: list[QueueStats] = Field(description="The queues this API serves, in order.")
    workers: list[WorkerStats] = Field(description="Every worker on this Redis database.")
    finished_last_minute: int = Field(
        ge=0, description="Jobs of these queues that finished in the 60 s before `at`."
    )
    problems: list[str] = Field(
        default=[],
        description="Keys in Redis that could not be read (a damaged job at the head of a"
        " queue, whose age is then null; a damaged worker, left out), each in a sentence.",
    )


def damage(exc: Exception) -> bool:
    """Whether `exc`, raised while RQ loaded a key, means the key is damaged (so it can be
    reported and skipped) rather than Redis being down (a 503 for the whole request)."""
    return not isinstance(exc, RedisError) or isinstance(exc, ResponseError)


class ReportingQueue(Queue):
    """An RQ Queue that reports the jobs it cannot load into `problems` (a list of sentences)."""

    def __init__(self, name: str, problems: list[str], **kwargs) -> None:
        super().__init__(name, **kwargs)
        self.problems = problems

    @classmethod
    def like(cls, queue: Queue, name: str, problems: list[str]) -> ReportingQueue:
        """The queue `name`, with the connection, job class and serializer of `queue`."""
        return cls(
            name,
            problems,
            connection=queue.connection,
            job_class=queue.job_class,
            serializer=queue.serializer,
        )

    def fetch_job(self, job_id: str) -> Job | None:
        """RQ's raises when the job's data is damaged or its function cannot be imported
        here, which would fail all of GET /stats; here it returns None, after adding a
        sentence about the job to `problems`. Redis down still raises (a 503)."""
        try:
            return super().fetch_job(job_id)
        except Exception as exc:
            if not damage(exc):
                raise
            self.problems.append(f"In queue {self.name}: {unreadable_detail(job_id, exc)}")
            return None


def readable_workers(connection: Redis, problems: list[str]) -> Iterator[Worker]:
    """Every worker registered on this Redis database, by name; one whose key cannot be
    read is left out, with a sentence about it in `problems`."""
    for key in sorted(worker_registration.get_keys(connection=connection)):
        try:
            worker = Worker.find_by_key(key, connection=connection)
        except Exception as exc:
            if not damage(exc):
                raise
            problems.append(f"Worker {key} cannot be read ({named(exc)}): its data is damaged.")
            continue
        if worker is not None:  # None: its key expired, RQ has just unregistered it
            yield worker


def rq_counts(queue: Queue) -> dict[str, int]:
    """RQ's own counts of `queue`, by STATUSES: its length and each registry's size, as
    they are (no cleanup first): what GET /stats is checked against."""
    counts = {"queued": queue.count}
    for status in STATUSES[1:]:
        counts[status] = getattr(queue, f"{status}_job_registry").get_job_count(cleanup=False)
    return counts


def finished_since(queues: Sequence[Queue], since: datetime) -> int:
    """How many jobs of `queues` finished at `since` or later (an aware datetime).

    RQ's finished registry is sorted by when each result expires, not by when the job
    ended, so every finished job's `ended_at` is read: one round trip per queue. RQ writes
    it as fixed-width UTC text, which sorts as the times do."""
    cutoff = utcformat(since).encode()
    count = 0
    for queue in queues:
        ids = queue.finished_job_registry.get_job_ids()
        with queue.connection.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hget(Job.key_for(job_id), "ended_at")
            ended = pipe.execute()
        count += sum(1 for at in ended if at is not None and at >= cutoff)
    return count

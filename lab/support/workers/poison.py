"""PROVIDED: poison jobs, which a worker cannot load or do the bookkeeping of, and workers
that stop on an unexpected error (classes.py uses both).

RQ 3.0 loads a job as it takes it from its queue. A job hash it cannot load (a timestamp
`x`, a status RQ does not know, a key that is not a hash) raises out of that step, and
RQ's loop ends on it: "found an unhandled exception, quitting...", exit status 0. The
job's id stays in the queue's intermediate list (one queue) or in no list at all
(several), the jobs behind it stay queued, and no worker is left. Here such a job is
moved to its queue's failed registry with the reason (fail_poison_job()), in one log
line, and the worker takes the next job. So is one that RQ's maintenance meets in the
queue's intermediate list (fetch_or_fail()), where it ended the loop of every worker that
cleaned the queue, and a job hash without data, which RQ skips as no job at all.

A job RQ loads but cannot run, because its data does not decode or its function cannot
be imported, RQ fails already; it is a poison job all the same: poison_problem() says
what is wrong with it, and its failure is logged in one line instead of a traceback.

Any other error that ends RQ's loop raises WorkerCrashed (a SystemExit, as RQ lets those
through its loop): the worker exits 1 after RQ's teardown, and a supervisor or a
WorkerPool starts another. RQ's loop would return as if its work were done (exit 0).
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable

from redis import Redis
from rq import Queue
from rq.defaults import DEFAULT_FAILURE_TTL
from rq.exceptions import NoSuchJobError, StopRequested
from rq.job import Job, JobStatus
from rq.results import Result
from rq.utils import current_timestamp, now, utcformat

from lab.support.queueing.jobs import named

log = logging.getLogger("rq.worker")

CRASH_EXIT = 1
"""The exit status of a worker that stopped on an unexpected error."""


class WorkerCrashed(SystemExit):
    """An unexpected error ended the worker's loop: it exits CRASH_EXIT (RQ's exits 0)."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(CRASH_EXIT)
        self.error = error


def poison_reason(problem: str) -> str:
    """What the failed registry and the log say about a poison job, `problem` its error."""
    return f"Poison job: the worker cannot load or run it ({problem})"


def poison_problem(job: Job) -> str | None:
    """What keeps the worker from running `job`, which it loaded: its data does not
    decode, or its function cannot be imported ("DeserializationError, from
    UnpicklingError: ..."); None when it can be run."""
    try:
        job.func  # noqa: B018 (decodes the data, imports the function)
    except Exception as exc:  # whatever decoding or importing raised
        return named(exc)
    return None


def fail_poison_job(
    connection: Redis, queue: Queue, job_id: str, error: BaseException, worker_name: str
) -> str:
    """Move the job `job_id` of `queue`, which the worker could not load or do the
    bookkeeping of because of `error`, to the queue's failed registry; return the reason.

    Its hash is left as it was found (for a person to look at), but for `status`, now
    `failed`, `exc_info` and `ended_at`, as RQ writes a failed job's; its key expires with
    the failed registry's entry (RQ's default failure TTL, a year: its own `failure_ttl`
    may be what is damaged). The reason is also RQ's failure result of the job
    (job.latest_result().exc_string, for code that can load it). All in one transaction,
    which also takes the id out of the queue's intermediate list and started registry,
    so that neither RQ's maintenance nor the recovery of lost jobs queues it again."""
    reason = poison_reason(named(error))
    key = Job.key_for(job_id)
    is_hash = connection.type(key) == b"hash"
    started = queue.started_job_registry.key
    mine = f"{job_id}:".encode()  # its entries are <job id>:<execution id>
    executions = [e for e in connection.zrange(started, 0, -1) if e.startswith(mine)]
    ttl = DEFAULT_FAILURE_TTL
    failure = Result(job_id, Result.Type.FAILED, connection, exc_string=reason,
                     worker_name=worker_name)  # fmt: skip
    with connection.pipeline() as pipe:
        pipe.lrem(queue.intermediate_queue_key, 0, job_id)
        if executions:
            pipe.zrem(started, *executions)
        if is_hash:
            pipe.hset(key, mapping={
                "status": JobStatus.FAILED.value,
                "exc_info": zlib.compress(reason.encode()),
                "ended_at": utcformat(now()),
            })  # fmt: skip
            pipe.expire(key, ttl)
        pipe.zadd(queue.failed_job_registry.key, {job_id: current_timestamp() + ttl})
        failure.save(ttl, pipeline=pipe)
        pipe.execute()
    return reason


def fetch_or_fail(queue: Queue, job_id: str, fetch: Callable[[str], Job | None]) -> Job | None:
    """`fetch(job_id)` (RQ's Queue.fetch_job()); but a job it cannot load, or a job hash
    without data (which RQ takes for no job at all), is failed as a poison job, and None
    returned, as RQ's does for a job that is no more."""
    key = Job.key_for(job_id)
    try:
        job = fetch(job_id)
        if job is None and queue.connection.hget(key, "status") is not None:
            if not queue.connection.hexists(key, "data"):
                raise NoSuchJobError(f"job hash {key} has no data")
        return job
    except StopRequested:
        raise
    except Exception as exc:  # whatever loading it raised
        reason = fail_poison_job(queue.connection, queue, job_id, exc, worker_name="")
        log.error("Queue %s: job %s failed. %s", queue.name, job_id, reason)
        return None

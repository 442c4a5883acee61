"""PROVIDED: the queue the API's endpoints receive (EmailQueue): RQ's Queue, with two changes
that make an accepted email delivered once.

- **One Idempotency-Key, one job.** While a request with an Idempotency-Key runs, the
  middleware (lab/support/api/idempotency.py) holds `keyed_request(key, fingerprint)`; a job
  queued meanwhile without an id of its own gets one derived from the key and the request
  (`ik-<hash>`, then `ik-<hash>-2`, ... for a second job of the same request). A repeat of
  the request, even one that came after the key's claim expired because Redis was down when
  the first answer was to be stored, derives the same id, finds that job and answers with
  it: it is not written again, nor queued twice. The check and the write are one Redis
  transaction (WATCH on the job's key), so two repeats at once make one job.
- **Retries for a worker that died.** A job queued without a `Retry` gets
  `Retry(max=JOB_RETRIES)`: a job whose worker was killed mid-run is queued again by the
  next maintenance (AbandonedJobError) instead of failing, and the fake mail provider
  (outbox.send(), keyed by the job) keeps its second run from sending again.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from redis.client import Pipeline
from redis.exceptions import WatchError
from rq import Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job

from lab.support.config import get_settings

log = logging.getLogger(__name__)

#: How a job id derived from an Idempotency-Key starts.
KEYED_PREFIX = "ik-"


@dataclass
class KeyedRequest:
    """A request with an Idempotency-Key, while it runs: the base of its jobs' ids, and how
    many of them it has queued (a request's jobs are queued in the same order each time)."""

    base: str
    queued: int = 0

    def next_id(self) -> str:
        self.queued += 1
        return self.base if self.queued == 1 else f"{self.base}-{self.queued}"


#: The keyed request being handled in this context (the middleware sets it; FastAPI's thread
#: pool copies it into the thread that runs a `def` endpoint).
CURRENT: ContextVar[KeyedRequest | None] = ContextVar("keyed_request", default=None)


def job_id_for(key: str, fingerprint: str) -> str:
    """The id of the first job of the request `fingerprint` (its path and the SHA-256 of its
    body) sent with the Idempotency-Key `key`: the same for every repeat of it."""
    digest = hashlib.sha256(f"{key}\n{fingerprint}".encode()).hexdigest()
    return KEYED_PREFIX + digest[:40]


@contextmanager
def keyed_request(key: str, fingerprint: str) -> Iterator[KeyedRequest]:
    """While inside, jobs queued on an ApiQueue without an id get ids derived from `key`."""
    token = CURRENT.set(request := KeyedRequest(job_id_for(key, fingerprint)))
    try:
        yield request
    finally:
        CURRENT.reset(token)


class ApiQueue(Queue):
    """The API's queue: keyed job ids and default retries (see the module's docstring)."""

    def create_job(self, *args: Any, **options: Any) -> Job:
        """RQ 3.0 gives a new job a random UUID and no retries unless told. Here, in a keyed
        request, a job without an id of its own gets one derived from the key, and a job
        without a Retry gets Retry(max=JOB_RETRIES) (none when that is 0)."""
        request = CURRENT.get()
        if options.get("job_id") is None and len(args) < 10 and request is not None:
            options["job_id"] = request.next_id()  # job_id is create_job's 10th parameter
        retries = get_settings().job_retries
        if options.get("retry") is None and len(args) < 13 and retries:
            options["retry"] = Retry(max=retries)  # retry is its 13th
        return super().create_job(*args, **options)

    def enqueue_job(
        self,
        job: Job,
        pipeline: Pipeline | None = None,
        at_front: bool = False,
        unique: bool = False,
    ) -> Job:
        """RQ 3.0 writes the job's hash over whatever holds its id, and pushes the id again:
        a repeated request would reset a job that ran, and run it again. A keyed job is
        written only if no job has its id; else that job is returned, untouched. (A job
        queued in a caller's pipeline, with unique=True or a rate limit is RQ's as is.)"""
        if not self._keyed(job, pipeline, unique):
            return super().enqueue_job(job, pipeline=pipeline, at_front=at_front, unique=unique)
        return self._write_once(
            job,
            lambda pipe: super(ApiQueue, self).enqueue_job(job, pipeline=pipe, at_front=at_front),
            multi=False,  # RQ's setup_dependencies() WATCHes the dependencies, then MULTI
        )

    def schedule_job(
        self, job: Job, datetime: datetime, pipeline: Pipeline | None = None, unique: bool = False
    ) -> Job:
        """As enqueue_job(), for a job to run later (step 08b's send_at and send_in): RQ 3.0
        overwrites a job of the same id; a keyed job here is scheduled only once."""
        if not self._keyed(job, pipeline, unique):
            return super().schedule_job(job, datetime, pipeline=pipeline, unique=unique)
        return self._write_once(
            job,
            lambda pipe: super(ApiQueue, self).schedule_job(job, datetime, pipeline=pipe),
            multi=True,
        )

    @staticmethod
    def _keyed(job: Job, pipeline: Pipeline | None, unique: bool) -> bool:
        return (
            job.id.startswith(KEYED_PREFIX)
            and pipeline is None
            and not unique
            and not job.has_rate_limit
        )

    def _write_once(self, job: Job, write: Callable[[Pipeline], Job], multi: bool) -> Job:
        """`write(pipeline)` queues the job's writes on a pipeline that WATCHes its key; they
        are applied only if the key is still absent, in one transaction. If a job holds the
        id already, or one was written meanwhile (WatchError), that job is returned."""
        status = job.get_status(refresh=False)
        with self.connection.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(job.key)
                    if pipe.exists(job.key):
                        earlier = self._earlier(job.id)
                        if earlier is not None:
                            return earlier
                        continue  # it expired between the two reads: write it
                    if multi:
                        pipe.multi()
                    written = write(pipe)
                    pipe.execute()
                    return written
                except WatchError:
                    # RQ may have set DEFERRED for the failed attempt. The status is put back
                    # as RQ's own Queue.setup_dependencies() does after a WatchError (RQ 3.0,
                    # rq/queue.py): onto Job._status, since the public set_status() writes to
                    # Redis, which this attempt must not do.
                    job._status = status
                    pipe.reset()

    def _earlier(self, job_id: str) -> Job | None:
        try:
            job = self.job_class.fetch(
                job_id, connection=self.connection, serializer=self.serializer
            )
        except NoSuchJobError:
            return None
        log.info("Job %s was queued by an earlier request with this Idempotency-Key", job_id)
        return job

"""PROVIDED: the serializer of RQ_SERIALIZER, for every queue, worker and job the workbook
makes: RQ writes a job's function, arguments, meta and result into Redis with it.

pickle (RQ's default) runs code named in the data when a job is loaded; json does not
(experiments/attacks.py shows both). RQ_SERIALIZER=json is applied to the API's queues, to
every worker and to the dashboard; `SettingJob`, `SettingWorker` and `SettingQueue` are RQ's
classes that take it by default, for code that makes them without a serializer.
"""

from __future__ import annotations

from redis import Redis
from rq import Queue, Worker
from rq.job import Job
from rq.serializers import JSONSerializer, PickleSerializer, Serializer

from lab.support.config import get_settings

#: What each value of RQ_SERIALIZER means to RQ.
SERIALIZER_CLASSES: dict[str, Serializer] = {"pickle": PickleSerializer, "json": JSONSerializer}


def rq_serializer(name: str | None = None) -> Serializer:
    """RQ's serializer for `name` (default: the RQ_SERIALIZER setting, read now)."""
    return SERIALIZER_CLASSES[name or get_settings().serializer]


def apply_serializer(worker: Worker, name: str | None = None) -> Worker:
    """`worker` reading and writing jobs with the serializer `name` (default: RQ_SERIALIZER):
    its own, its queues', the scheduler's it starts, and a SpawnWorker's job process."""
    name = name or get_settings().serializer
    worker.serializer = rq_serializer(name)
    worker._serializer_arg = name  # what SpawnWorker's job process resolves: "json", "pickle"
    for queue in worker.queues:
        queue.serializer = worker.serializer
    return worker


class SettingJob(Job):
    """rq's Job, loaded with RQ_SERIALIZER's serializer unless one is given: for code that
    calls Job.fetch() without a serializer (rq-dashboard-fast), which would unpickle."""

    def __init__(self, id: str | None = None, connection: Redis | None = None, serializer=None):
        super().__init__(id, connection=connection, serializer=serializer or rq_serializer())


class SettingWorker(Worker):
    """rq's Worker, RQ_SERIALIZER's serializer unless one is given: what Worker.all()
    returns reads each worker's current job with it (rq-dashboard-fast's workers page)."""

    def __init__(self, *args, serializer=None, **kwargs) -> None:
        super().__init__(*args, serializer=serializer or rq_serializer(), **kwargs)


class SettingQueue(Queue):
    """rq's Queue, RQ_SERIALIZER's serializer unless one is given: RQ 3.0's cron scheduler
    makes `Queue(name, connection=...)` for each job it queues, which would pickle it."""

    def __init__(self, *args, serializer=None, **kwargs) -> None:
        super().__init__(*args, serializer=serializer or rq_serializer(), **kwargs)

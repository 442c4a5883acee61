"""PROVIDED: the serializer of RQ_SERIALIZER, for every queue, worker and job the workbook
makes: RQ writes a job's function, arguments, meta and result into Redis with it.

pickle (RQ's default) runs code named in the data when a job is loaded; json does not
(experiments/attacks.py shows both). The API's queues, every worker (workers/classes.py)
and the dashboard are made with RQ_SERIALIZER's serializer; `SettingJob`, `SettingWorker`
and `SettingQueue` are RQ's classes that take it by default, for code that makes them
without a serializer.
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

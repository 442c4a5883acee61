"""PROVIDED: Redis as a trust boundary: the serializer of RQ_SERIALIZER, and a harmless
demonstration of why it matters (notebook 10).

RQ writes a job's function name, arguments, meta and result into Redis with a serializer:
pickle by default. Unpickling runs code that the pickle names, so anyone who can write to
Redis can run code in every process that loads such a job - the worker (to run it), the API
(GET /jobs/{id} reads its function name, arguments and result) and the dashboard.
`plant_pickle_job()` shows it: its job, once loaded, creates a file, and nothing else.

RQ_SERIALIZER=json, applied to the API's queues (api.app_queue), to every worker
(worker_cli.configured) and to the dashboard, closes that path: JSON text is data, never
code, and a planted pickle fails to load (DeserializationError). What JSON does NOT stop:
the worker still imports and calls whatever dotted function name a job gives, with the
job's arguments (`plant_json_job()`: `os.mkdir`, JSON arguments). A writer to Redis
chooses what runs either way; the boundary is Redis itself: loopback, protected mode and a
password (redis_server.py), TLS (rediss://) for a Redis on another machine.
"""

from __future__ import annotations

import json
import pickle
import uuid
from pathlib import Path

from redis import Redis
from rq import Queue, Worker
from rq.job import Job
from rq.serializers import JSONSerializer, PickleSerializer, Serializer

from .config import get_settings

#: What each value of RQ_SERIALIZER means to RQ.
SERIALIZER_CLASSES: dict[str, Serializer] = {"pickle": PickleSerializer, "json": JSONSerializer}


def rq_serializer(name: str | None = None) -> Serializer:
    """RQ's serializer for `name` (default: the RQ_SERIALIZER setting, read now)."""
    return SERIALIZER_CLASSES[name or get_settings().serializer]


class TouchOnLoad:
    """Pickled, it says "call Path.touch(marker)": unpickling it creates the file `marker`.
    It stands for any code an attacker could name (os.system, ...)."""

    def __init__(self, marker: Path) -> None:
        self.marker = Path(marker)

    def __reduce__(self) -> tuple:
        return Path.touch, (self.marker,)


def plant_job(connection: Redis, queue_name: str, data: bytes) -> str:
    """Write a job whose `data` field is `data` straight into Redis, as anyone who can write
    to it could (no RQ, no API), and put it on the queue `queue_name`. Returns its id."""
    job_id = f"planted-{uuid.uuid4().hex[:12]}"
    queue_key = f"rq:queue:{queue_name}"
    with connection.pipeline() as pipe:
        pipe.hset(
            f"rq:job:{job_id}",
            mapping={
                "data": data,
                "origin": queue_name,
                "status": "queued",
                "description": "a planted job",
                "created_at": "2025-01-01T00:00:00.000000Z",
                "enqueued_at": "2025-01-01T00:00:00.000000Z",
                "timeout": 60,
            },
        )
        pipe.sadd("rq:queues", queue_key)
        pipe.rpush(queue_key, job_id)
        pipe.execute()
    return job_id


def plant_pickle_job(connection: Redis, queue_name: str, marker: Path) -> str:
    """Plant a job on `queue_name` whose pickled data creates the file `marker` when it is
    loaded - by a worker, the API or the dashboard - and is otherwise a valid job: it calls
    str(None). Returns its id. Under RQ_SERIALIZER=json the same job fails to load."""
    data = pickle.dumps(("builtins.str", None, (TouchOnLoad(marker),), {}))
    return plant_job(connection, queue_name, data)


def plant_json_job(connection: Redis, queue_name: str, marker: Path) -> str:
    """Plant a JSON job on `queue_name` that names the function `os.mkdir` with the argument
    `marker`: a worker under RQ_SERIALIZER=json runs it and creates the folder. JSON stops
    code in the data, not the choice of the function. Returns its id."""
    data = json.dumps(["os.mkdir", None, [str(marker)], {}]).encode()
    return plant_job(connection, queue_name, data)


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

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
from typing import Literal

from redis import Redis
from rq import Queue, Worker
from rq.job import Job
from rq.serializers import JSONSerializer, PickleSerializer, Serializer

from .config import get_settings, hide_secrets, safe_url

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


def plant_job(connection: Redis, queue_name: str, data: bytes, **fields: bytes) -> str:
    """Write a job whose `data` field is `data` (and any other `fields`) straight into Redis,
    as anyone who can write to it could (no RQ, no API), and put it on the queue
    `queue_name`. Returns its id."""
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
                **fields,
            },
        )
        pipe.sadd("rq:queues", queue_key)
        pipe.rpush(queue_key, job_id)
        pipe.execute()
    return job_id


def plant_pickle_job(
    connection: Redis, queue_name: str, marker: Path, field: Literal["data", "meta"] = "data"
) -> str:
    """Plant a job on `queue_name` whose pickle creates the file `marker` when it is loaded,
    and is otherwise a valid job: it calls str(). Returns its id.

    In its `data` (function and arguments, the default), the pickle runs in a worker that
    takes the job and in the API once it reads the job's function (GET /jobs/{id}); in its
    `meta`, it runs as soon as any process fetches the job, even to read its status (the
    dashboard's list of jobs). Under RQ_SERIALIZER=json neither loads."""
    if field == "meta":
        data = pickle.dumps(("builtins.str", None, ("planted",), {}))
        return plant_job(connection, queue_name, data, meta=pickle.dumps(TouchOnLoad(marker)))
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


def credentials(url: str) -> tuple[str | None, str | None]:
    """(username, password) that redis-py sends to the server of `url`, percent-decoded;
    None for what the URL does not give (an empty password is none)."""
    from redis import ConnectionPool  # noqa: PLC0415

    kwargs = ConnectionPool.from_url(url).connection_kwargs
    return kwargs.get("username") or None, kwargs.get("password") or None


def password_refused(url: str, exc: Exception) -> str:
    """One line for an AuthenticationError from the Redis at `url`: what was refused and what
    to do, without the password."""
    shown = safe_url(url)
    if credentials(url)[1] is None:
        return (
            f"Redis at {shown} asks for a password, and REDIS_URL gives none: put it in the URL,"
            " percent-encoded: redis://:PASSWORD@host:port/0."
        )
    return (
        f"Redis at {shown} refused the password: {hide_secrets(str(exc), url)} Check the"
        " password (and user name) in REDIS_URL; percent-encode @ : / % and spaces in it."
    )

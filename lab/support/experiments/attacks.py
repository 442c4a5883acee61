"""PROVIDED: Redis as a trust boundary, shown harmlessly (notebook 10).

RQ writes a job's function name, arguments, meta and result into Redis with a serializer:
pickle by default. Unpickling runs code that the pickle names, so anyone who can write to
Redis can run code in every process that loads such a job - the worker (to run it), the API
(GET /jobs/{id} reads its function name, arguments and result) and the dashboard.
`plant_pickle_job()` shows it: its job, once loaded, creates a file, and nothing else.

RQ_SERIALIZER=json (queueing/serializer.py) closes that path: JSON text is data, never code,
and a planted pickle fails to load (DeserializationError). What JSON does NOT stop: the
worker still imports and calls whatever dotted function name a job gives, with the job's
arguments (`plant_json_job()`: `os.mkdir`, JSON arguments). A writer to Redis chooses what
runs either way; the boundary is Redis itself: loopback, protected mode and a password
(servers/redis_server.py), TLS (rediss://) for a Redis on another machine.
"""

from __future__ import annotations

import json
import pickle
import uuid
from pathlib import Path
from typing import Literal

from redis import Redis


class TouchOnLoad:
    """Pickled, it says "call Path.touch(marker)": unpickling it creates the file `marker`.
    It stands for any code an attacker could name (os.system, ...)."""

    def __init__(self, marker: Path) -> None:
        self.marker = Path(marker)

    def __reduce__(self) -> tuple:
        return Path.touch, (self.marker,)


def plant_job(connection: Redis, queue_name: str, data: bytes, **fields: bytes) -> str:
    """Write a job whose `data` is `data` (and any other `fields`) straight into Redis, as
    anyone who can write to it could (no RQ, no API), on the queue `queue_name`; its id."""
    job_id, queue_key = f"planted-{uuid.uuid4().hex[:12]}", f"rq:queue:{queue_name}"
    at = "2025-01-01T00:00:00.000000Z"
    job = {"data": data, "origin": queue_name, "status": "queued", "timeout": 60}
    job |= {"description": "a planted job", "created_at": at, "enqueued_at": at, **fields}
    with connection.pipeline() as pipe:
        pipe.hset(f"rq:job:{job_id}", mapping=job)
        pipe.sadd("rq:queues", queue_key)
        pipe.rpush(queue_key, job_id)
        pipe.execute()
    return job_id


def plant_pickle_job(
    connection: Redis, queue_name: str, marker: Path, field: Literal["data", "meta"] = "data"
) -> str:
    """Plant a valid job (it calls str()) on `queue_name` whose pickle creates the file
    `marker` when loaded; its id. In its `data` (the default), the pickle runs in a worker
    that takes the job and in the API once it reads the job's function (GET /jobs/{id}); in
    its `meta`, in any process that fetches the job, even for its status (the dashboard's
    list). Under RQ_SERIALIZER=json neither loads."""
    if field == "meta":
        data = pickle.dumps(("builtins.str", None, ("planted",), {}))
        return plant_job(connection, queue_name, data, meta=pickle.dumps(TouchOnLoad(marker)))
    data = pickle.dumps(("builtins.str", None, (TouchOnLoad(marker),), {}))
    return plant_job(connection, queue_name, data)


def plant_json_job(connection: Redis, queue_name: str, marker: Path) -> str:
    """Plant a JSON job calling `os.mkdir(marker)` on `queue_name`; its id. A worker under
    RQ_SERIALIZER=json runs it: JSON stops code in the data, not the choice of function."""
    data = json.dumps(["os.mkdir", None, [str(marker)], {}]).encode()
    return plant_job(connection, queue_name, data)

"""Step 00 - YOUR FILE (lab/connection.py): the connection to Redis and the queue.

The producer and the worker both come here, so that they talk to the same Redis and
the same queue, and so that a Redis that is down gives an error within a second or
two instead of a request that hangs.

You write get_redis() and get_queue().
"""

from __future__ import annotations

from redis import Redis
from rq import Queue

from lab.support.config import get_settings


def get_redis(url: str | None = None) -> Redis:
    """A Redis client for `url` (default: the REDIS_URL setting).

    Connecting and each answer may take at most REDIS_TIMEOUT seconds (the
    `redis_timeout` setting); past that the client raises instead of waiting forever.
    """
    # TODO: use Redis.from_url with socket_connect_timeout and socket_timeout
    raise NotImplementedError("get_redis() in lab/connection.py is not written yet")


def get_queue(connection: Redis | None = None, name: str | None = None) -> Queue:
    """The RQ queue `name` (default: the QUEUE_NAME setting, "default") on `connection`
    (default: a new `get_redis()` client)."""
    # TODO: build an rq.Queue with a name and a connection
    raise NotImplementedError("get_queue() in lab/connection.py is not written yet")

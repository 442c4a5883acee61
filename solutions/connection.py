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
    # BEGIN SOLUTION: use Redis.from_url with socket_connect_timeout and socket_timeout
    settings = get_settings()
    return Redis.from_url(
        url or settings.redis_url,
        socket_connect_timeout=settings.redis_timeout,
        socket_timeout=settings.redis_timeout,
    )
    # END SOLUTION


def get_queue(connection: Redis | None = None, name: str | None = None) -> Queue:
    """The RQ queue `name` (default: the QUEUE_NAME setting, "default") on `connection`
    (default: a new `get_redis()` client)."""
    # BEGIN SOLUTION: build an rq.Queue with a name and a connection
    return Queue(name or get_settings().queue_name, connection=connection or get_redis())
    # END SOLUTION

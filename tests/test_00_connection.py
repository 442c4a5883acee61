"""Step 00: lab/connection.py - get_redis() and get_queue()."""

from __future__ import annotations

import time

import pytest
from redis.exceptions import ConnectionError, TimeoutError

from lab.support.config import get_settings


def test_get_redis_connects_to_redis_url(connection, redis_url):
    """get_redis() with no URL connects to the REDIS_URL setting."""
    client = connection.get_redis()
    assert client.ping() is True
    db = client.connection_pool.connection_kwargs["db"]
    assert db == int(redis_url.rsplit("/", 1)[1]), (
        f"connected to database {db}, not that of REDIS_URL={redis_url}: pass"
        " `url or get_settings().redis_url` to Redis.from_url()"
    )


def test_get_redis_takes_an_explicit_url(connection, redis_url):
    """get_redis(url) connects to the URL it is given, not to REDIS_URL."""
    client = connection.get_redis(redis_url.rsplit("/", 1)[0] + "/7")
    assert client.ping() is True
    assert client.connection_pool.connection_kwargs["db"] == 7


def test_get_redis_sets_both_timeouts_from_the_settings(connection, monkeypatch):
    """get_redis() sets socket_connect_timeout and socket_timeout to the REDIS_TIMEOUT setting."""
    monkeypatch.setenv("REDIS_TIMEOUT", "0.25")
    get_settings.cache_clear()
    kwargs = connection.get_redis().connection_pool.connection_kwargs
    for name in ("socket_connect_timeout", "socket_timeout"):
        assert kwargs.get(name) == 0.25, (
            f"{name} is {kwargs.get(name)} with REDIS_TIMEOUT=0.25: pass"
            f" {name}=get_settings().redis_timeout, read when get_redis() runs"
        )


def test_a_redis_that_is_down_fails_fast(connection, closed_port):
    """A client from get_redis() raises ConnectionError within 2 s when Redis is down."""
    client = connection.get_redis(f"redis://127.0.0.1:{closed_port}/0")
    start = time.monotonic()
    with pytest.raises(ConnectionError):
        client.ping()
    took = time.monotonic() - start
    assert took < 2, f"ping() gave up after {took:.1f} s: set socket_connect_timeout"


def test_a_redis_that_hangs_times_out(connection, silent_port):
    """A client from get_redis() gives up within 2 s on a Redis that never answers."""
    client = connection.get_redis(f"redis://127.0.0.1:{silent_port}/0")
    start = time.monotonic()
    with pytest.raises((TimeoutError, ConnectionError)):
        client.ping()
    took = time.monotonic() - start
    assert took < 2, f"ping() gave up after {took:.1f} s: set socket_timeout"


def test_get_queue_defaults_to_the_queue_name_setting(connection, redis_url, monkeypatch):
    """get_queue() with no arguments is the QUEUE_NAME queue, 'default', on get_redis()."""
    monkeypatch.delenv("QUEUE_NAME", raising=False)
    get_settings.cache_clear()
    queue = connection.get_queue()
    assert queue.name == get_settings().queue_name == "default", (
        f"the queue is {queue.name!r}: name it `name or get_settings().queue_name`"
    )
    assert queue.connection.ping() is True


def test_get_queue_honours_queue_name_and_arguments(connection, redis_conn, monkeypatch):
    """get_queue() reads QUEUE_NAME when it runs, and uses the connection and name it is given."""
    monkeypatch.setenv("QUEUE_NAME", "emails")
    get_settings.cache_clear()
    name = connection.get_queue().name
    assert name == "emails", f"with QUEUE_NAME=emails the queue is {name!r}: read it when called"
    queue = connection.get_queue(redis_conn, "high")
    assert queue.name == "high"
    assert queue.connection is redis_conn


def test_a_queue_holds_what_is_enqueued(connection, redis_conn):
    """A queue from get_queue(connection, name) holds the job enqueued on it."""
    queue = connection.get_queue(redis_conn, "step00")
    job = queue.enqueue("builtins.print", "hello")
    assert queue.count == 1
    assert queue.job_ids == [job.id]

"""Step 00: lab/connection.py - get_redis() and get_queue()."""

from __future__ import annotations

import time

import pytest
from redis.exceptions import ConnectionError, TimeoutError

from lab.support.config import get_settings


def test_get_redis_connects_to_redis_url(connection, redis_url):
    client = connection.get_redis()
    assert client.ping() is True
    assert client.connection_pool.connection_kwargs["db"] == int(redis_url.rsplit("/", 1)[1])


def test_get_redis_takes_an_explicit_url(connection, redis_url):
    client = connection.get_redis(redis_url.rsplit("/", 1)[0] + "/7")
    assert client.ping() is True
    assert client.connection_pool.connection_kwargs["db"] == 7


def test_get_redis_sets_both_timeouts_from_the_settings(connection, monkeypatch):
    monkeypatch.setenv("REDIS_TIMEOUT", "0.25")
    kwargs = connection.get_redis().connection_pool.connection_kwargs
    assert kwargs["socket_connect_timeout"] == 0.25
    assert kwargs["socket_timeout"] == 0.25


def test_a_redis_that_is_down_fails_fast(connection, closed_port):
    client = connection.get_redis(f"redis://127.0.0.1:{closed_port}/0")
    start = time.monotonic()
    with pytest.raises(ConnectionError):
        client.ping()
    assert time.monotonic() - start < 2


def test_a_redis_that_hangs_times_out(connection, silent_port):
    client = connection.get_redis(f"redis://127.0.0.1:{silent_port}/0")
    start = time.monotonic()
    with pytest.raises((TimeoutError, ConnectionError)):
        client.ping()
    assert time.monotonic() - start < 2


def test_get_queue_defaults_to_the_queue_name_setting(connection, redis_url, monkeypatch):
    monkeypatch.delenv("QUEUE_NAME", raising=False)
    queue = connection.get_queue()
    assert queue.name == get_settings().queue_name == "default"
    assert queue.connection.ping() is True


def test_get_queue_honours_queue_name_and_arguments(connection, redis_conn, monkeypatch):
    monkeypatch.setenv("QUEUE_NAME", "emails")
    assert connection.get_queue().name == "emails"
    queue = connection.get_queue(redis_conn, "high")
    assert queue.name == "high"
    assert queue.connection is redis_conn


def test_a_queue_holds_what_is_enqueued(connection, redis_conn):
    queue = connection.get_queue(redis_conn, "step00")
    job = queue.enqueue("builtins.print", "hello")
    assert queue.count == 1
    assert queue.job_ids == [job.id]

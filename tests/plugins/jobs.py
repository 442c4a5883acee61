"""The queue the API fills, on the test database, and running its jobs in the test."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from redis import Redis
from rq import Queue

from lab.support.config import get_settings
from lab.support.workers.classes import WorkbookSimpleWorker


@pytest.fixture
def queue(redis_conn: Redis) -> Queue:
    """The queue the API fills (the QUEUE_NAME setting: "default"), on the test database."""
    return Queue(get_settings().queue_name, connection=redis_conn)


@pytest.fixture
def run_queued_jobs() -> Callable[[Queue], None]:
    """run_queued_jobs(queue): run every job on `queue` in this process, then return."""

    def run(queue: Queue) -> None:
        WorkbookSimpleWorker([queue], connection=queue.connection).work(burst=True)

    return run

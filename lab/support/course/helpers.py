"""PROVIDED: what the notebooks and the tests both need: `follow(client, job_id)` asks
GET /jobs/{job_id} until the job ends; `notebook_api()` and `notebook_worker()` start the
API or a worker for a notebook, stopping the one an earlier run of the cell started;
`unexpected(response, expected, api)` is an assert's message for an unexpected HTTP
answer; `check_environment()` prints notebook 00's OK / FAIL line per requirement.
(Waiting for a job, emptying a queue: queueing/jobs.py; `poll`: servers/processes.py.)
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

from lab.support.servers.processes import Api, Background, poll, start_api, start_worker

T = TypeVar("T")


def unexpected(response: Any, expected: int, api: Background | None = None) -> str:
    """The message of an assert on `response.status_code == expected`: what came instead
    and where to look. A 501 names your function that is not written yet; after a 500, the
    end of the API's log, read once the traceback is in it."""
    said = f"expected {expected}, the API answered {response.status_code}"
    try:
        body = response.json()
        detail = body.get("detail", body) if isinstance(body, dict) else body
    except ValueError:
        detail = response.text[:300]
    if response.status_code >= 500 and response.status_code != 501 and api is not None:
        return f"{said}; the end of the API's log:\n{api.settled_output()[-3000:]}"
    return f"{said}: {detail}"


class HttpClient(Protocol):
    def get(self, url: str, **kwargs: Any) -> Any: ...


def follow(
    client: HttpClient,
    job_id: str,
    until: tuple[str, ...] = ("finished", "failed"),
    every: float = 0.02,
    timeout: float = 15.0,
    show: Callable[[dict], None] | None = None,
    api: Background | None = None,
) -> list[dict]:
    """Ask GET /jobs/{job_id} of `client` (httpx or FastAPI's TestClient) every `every`
    seconds until the job's status is in `until`; every answer, each passed to `show`. An
    answer other than 200 raises, with the end of `api`'s log when it is given."""

    def read() -> dict:
        response = client.get(f"/jobs/{job_id}")
        if response.status_code != 200:
            raise AssertionError(f"GET /jobs/{job_id}: {unexpected(response, 200, api)}")
        answer = response.json()
        if show is not None:
            show(answer)
        return answer

    what = f"job {job_id} to become {' or '.join(until)}"
    return poll(read, lambda answer: answer.get("status") in until, what, timeout, every)


# One of each per notebook kernel: a cell run again (after an edit) replaces its process.
_started: dict[str, Background] = {}


def _replace(name: str, start: Callable[[], Background]) -> Any:
    previous = _started.pop(name, None)
    if previous is not None:
        previous.stop()
    _started[name] = start()
    return _started[name]


def notebook_api(env: Mapping[str, str] | None = None, **options: Any) -> Api:
    """start_api(env=env, **options), after stopping the API an earlier run of this call
    started in this kernel: re-running the cell after an edit serves the edited file."""
    return _replace("api", lambda: start_api(env=env, **options))


def notebook_worker(*args: str, env: Mapping[str, str] | None = None) -> Background:
    """start_worker(*args, env=env), after stopping the worker an earlier run started."""
    return _replace("worker", lambda: start_worker(*args, env=env))


# --- notebook 00's environment check ----------------------------------------------------


def _rq_3_or_newer() -> bool:
    return int(importlib.import_module("rq").__version__.split(".")[0]) >= 3


def _pydantic_checks_emails() -> bool:
    from pydantic import EmailStr, TypeAdapter

    return TypeAdapter(EmailStr).validate_python("ada@example.com") == "ada@example.com"


def _a_redis_server() -> bool:
    from lab.support.config import get_settings
    from lab.support.servers import redis_server

    answers = redis_server.probe(get_settings().redis_url)[0] == "running"
    return answers or redis_server.server_binary() is not None


def check_environment() -> bool:
    """Print one line per requirement of the workbook, OK or FAIL with what to do; return
    whether all passed. It prints no versions or paths, so the output is the same anywhere."""
    from lab.support.servers.redis_server import install_advice

    reinstall = "Run `make setup` (or `pip install -e .`) in the workbook folder, then restart"
    reinstall += " the kernel."
    imports = lambda name: lambda: importlib.import_module(name) is not None  # noqa: E731

    checks = [
        ("Python 3.10 or newer", lambda: sys.version_info >= (3, 10),
         "Create the environment with Python 3.10+ (see README.md)."),
        ("fastapi imports", imports("fastapi"), reinstall),
        ("uvicorn imports", imports("uvicorn"), reinstall),
        ("redis (the Python client) imports", imports("redis"), reinstall),
        ("rq imports, version 3 or newer", _rq_3_or_newer, reinstall),
        ("httpx imports", imports("httpx"), reinstall),
        ("pydantic validates email addresses (email-validator)", _pydantic_checks_emails,
         reinstall),
        ("a Redis server: REDIS_URL answers, or a server binary is installed", _a_redis_server,
         install_advice()),
    ]  # fmt: skip
    passed = 0
    for label, test, advice in checks:
        try:
            ok = bool(test())
        except Exception:  # a check that cannot even run has failed
            ok = False
        passed += ok
        print(f"{'OK  ' if ok else 'FAIL'}  {label}")
        if not ok:
            print("      " + advice.replace("\n", "\n      "))
    print(f"\n{passed} of {len(checks)} checks passed.")
    return passed == len(checks)

"""PROVIDED: what the notebooks and the tests both need.

- `wait_for_status(job, "finished")`: wait until a job in Redis reaches a status;
- `job_outcome(job)`: its status now and, if it failed, why (for messages);
- `last_line(output, containing)`: the line of a process's output a message quotes;
- `follow(client, job_id)`: ask GET /jobs/{job_id} until the job ends; every answer;
- `poll(read, done, what, timeout)`: the waiting loop under both;
- `empty_queue(queue)`: delete a queue's jobs, waiting and in its registries;
- `notebook_api()`, `notebook_worker()`: start the API or a worker for a notebook,
  stopping the one an earlier run of the same cell started;
- `unexpected(response, expected, api)`: an assert's message for an HTTP answer that
  is not the expected one - what came and where to look;
- `check_environment()`: notebook 00's OK / FAIL line per requirement.
"""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar

from .background import Api, Background, start_api, start_worker

T = TypeVar("T")

ENDED = ("finished", "failed", "stopped", "canceled")


def poll(read: Callable[[], T], done: Callable[[T], bool], what: str, timeout: float,
         every: float = 0.02) -> list[T]:  # fmt: skip
    """Call `read()` every `every` seconds until `done(value)`; return every value read.

    Raises TimeoutError after `timeout` seconds, naming `what` was awaited and the last value."""
    seen = [read()]
    deadline = time.monotonic() + timeout
    while not done(seen[-1]):
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:g} s for {what}; the last answer: {seen[-1]}")
        time.sleep(every)
        seen.append(read())
    return seen


def wait_for_status(job: Any, *statuses: str, timeout: float = 15.0) -> str:
    """Wait until the RQ job `job` has one of `statuses` (default: any that ends it);
    return that status, or raise TimeoutError that says which status it was stuck in."""
    wanted = statuses or ENDED
    seen = poll(
        lambda: job.get_status(refresh=True).value,
        lambda status: status in wanted,
        f"job {job.id} to become {' or '.join(wanted)}",
        timeout,
    )
    return seen[-1]


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


def job_outcome(job: Any) -> str:
    """The RQ job's status as Redis holds it now and, when it failed or was stopped, the
    last line of its error: "failed (ValueError: not an email address: 'bob')"."""
    status = job.get_status(refresh=True).value
    latest = job.latest_result() if status in ("failed", "stopped") else None
    error = (latest.exc_string or "").strip().splitlines()[-1:] if latest is not None else []
    return f"{status} ({error[0]})" if error else status


def last_line(output: str, containing: str = "") -> str:
    """The last line of a process's `output` that holds `containing` (default: its last
    line that is not blank), stripped; "" when there is none."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return next((line for line in reversed(lines) if containing in line), "")


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
    seconds until the job's status is in `until`; return every answer.

    `show(answer)` is called on each answer. An answer other than 200 raises, with the end
    of the log of `api` (the API's process) when it is given."""

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


def empty_queue(queue: Any) -> None:
    """Delete every job of the RQ queue `queue`: those waiting on it, and those its
    registries hold (started, finished, failed, deferred, scheduled, canceled)."""
    queue.empty()
    for registry in (
        queue.started_job_registry, queue.finished_job_registry, queue.failed_job_registry,
        queue.deferred_job_registry, queue.scheduled_job_registry, queue.canceled_job_registry,
    ):  # fmt: skip
        for job_id in registry.get_job_ids(cleanup=False):
            job = queue.fetch_job(job_id)
            if job is None:
                continue
            try:
                job.delete()
            except ValueError:  # RQ 3.0, a job whose worker was killed: its execution expired
                queue.connection.delete(job.key)
        queue.connection.delete(registry.key)


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
    import rq

    return int(rq.__version__.split(".")[0]) >= 3


def _pydantic_checks_emails() -> bool:
    from pydantic import EmailStr, TypeAdapter

    return TypeAdapter(EmailStr).validate_python("ada@example.com") == "ada@example.com"


def _a_redis_server() -> bool:
    from . import redis_server
    from .config import get_settings

    answers = redis_server.probe(get_settings().redis_url)[0] == "running"
    return answers or redis_server.server_binary() is not None


def check_environment() -> bool:
    """Print one line per requirement of the workbook, OK or FAIL with what to do; return
    whether all passed. It prints no versions or paths, so the output is the same anywhere."""
    from .redis_server import install_advice

    reinstall = (
        "Run `make setup` (or `pip install -e .`) in the workbook folder, then restart the kernel."
    )

    def imports(name: str) -> Callable[[], bool]:
        return lambda: importlib.import_module(name) is not None

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

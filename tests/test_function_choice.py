"""No endpoint lets a client choose which function a worker runs (issue 14: Redis as a trust
boundary). A worker imports and calls whatever function a job names, so the names must come
from the API's code, never from a request.

The proof is dynamic, over the whole reference producer (solutions.producer, in this process,
on the tests' database): every operation of its OpenAPI schema, and of the apps it mounts
(the dashboard), is sent requests whose every string - path and query parameters, headers,
body fields - is the dotted name of a callable, with extra fields such as `func` and
`task`; and valid requests too, so that every endpoint that queues really queues. Then every
job Redis holds must name one of the functions the API's code queues (ALLOWED), and its
callbacks one of its callbacks. A last test runs the same probe on an app with an endpoint
that does queue a client-named function, to show that the probe would catch one.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel
from redis import Redis
from rq.job import Job
from starlette.routing import Mount

from lab.support.api import EmailQueue, create_app
from solutions.connection import get_queue
from solutions.webhooks import sign_event

#: Dotted names of callables a client might try to have run: a shell, eval, a function of
#: the workbook that must not be reachable (settings), and a task the API never queues.
NAMES = (
    "os.system",
    "builtins.eval",
    "subprocess.run",
    "lab.support.config.get_settings",
    "solutions.tasks.hash_chain",
)
#: Fields and parameters a client might add, hoping one reaches enqueue() as the function.
EXTRA = ("func", "function", "func_name", "task", "callable", "f", "on_success", "on_failure")

#: The functions the reference API queues, read from solutions/*.py and lab/support/api/routes.py:
#: producer.py (GET /send-email, POST /emails) and scheduling.py (send_at, send_in):
#: send_fake_email; routes.py (POST /newsletters): send_newsletter; repositories.py
#: (POST /repositories): its four steps; webhooks.py (POST /webhooks/payments): process_payment.
ALLOWED = {
    "solutions.tasks.send_fake_email",
    "solutions.tasks.send_newsletter",
    "solutions.repositories.create_repository",
    "solutions.repositories.add_default_files",
    "solutions.repositories.set_up_webhooks",
    "solutions.repositories.clean_up",
    "solutions.webhooks.process_payment",
}
#: The callbacks it gives jobs: POST /newsletters' on_failure.
ALLOWED_CALLBACKS = {"solutions.tasks.record_failure"}
CALLBACK_FIELDS = ("success_callback_name", "failure_callback_name", "stopped_callback_name")

ADDRESS = "user@example.com"
#: A valid request of each operation that takes input, so that it queues a job for real:
#: (method, path) -> {"path": ..., "query": ..., "json": ...}. "{job}" is replaced by the id
#: of a job the probe queued.
VALID: dict[tuple[str, str], list[dict[str, Any]]] = {
    ("GET", "/send-email/{email}"): [{"path": {"email": ADDRESS}}],
    ("POST", "/emails"): [
        {"json": {"email": ADDRESS, "delay": 0}},
        {"json": {"email": ADDRESS, "delay": 0, "priority": "high"}},
        {"json": {"email": ADDRESS, "delay": 0, "send_in": 3600}},
    ],
    ("POST", "/newsletters"): [{"json": {"addresses": [ADDRESS], "delay": 0}}],
    ("POST", "/repositories"): [{"json": {"name": "os.system", "delay": 0}}],
    ("POST", "/webhooks/payments"): [
        {"json": {"id": "evt_probe", "type": "os.system", "data": {"func": "os.system"}}}
    ],
    ("GET", "/jobs/{job_id}"): [{"path": {"job_id": "{job}"}, "query": {"traceback": "true"}}],
    ("POST", "/jobs/{job_id}/retry"): [{"path": {"job_id": "{job}"}}],
    ("POST", "/jobs/{job_id}/cancel"): [{"path": {"job_id": "{job}"}}],
}


def operations(app: FastAPI) -> Iterator[tuple[str, str, dict, dict]]:
    """(method, path, operation, components) of `app`'s OpenAPI schema and of every FastAPI
    app it mounts (path prefixed with the mount's), the dashboard included."""
    mounted = [(route.path, route.app) for route in app.routes if isinstance(route, Mount)]
    apps = [("", app)] + [
        (prefix, getattr(each, "dashboard", each))  # the dashboard sits behind its guard
        for prefix, each in mounted
        if isinstance(getattr(each, "dashboard", each), FastAPI)
    ]
    for prefix, each in apps:
        schema = each.openapi()
        components = schema.get("components", {}).get("schemas", {})
        for path, methods in schema.get("paths", {}).items():
            for method, operation in methods.items():
                yield method.upper(), prefix + path, operation, components


def body_schema(operation: dict, components: dict) -> dict:
    """The JSON schema of an operation's request body ({} when it takes none)."""
    content = operation.get("requestBody", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema", {})
    if "$ref" in schema:
        schema = components[schema["$ref"].rpartition("/")[2]]
    return schema


def string_fields(schema: dict) -> list[str]:
    """The properties of `schema` that may hold a string."""

    def may_be_text(prop: dict) -> bool:
        kinds = [prop, *prop.get("anyOf", [])]
        return any(kind.get("type") == "string" for kind in kinds)

    return [name for name, prop in schema.get("properties", {}).items() if may_be_text(prop)]


class Probe:
    """Sends the requests; counts the answers by status."""

    def __init__(self, client: TestClient):
        self.client = client
        self.keys = itertools.count()
        self.statuses: dict[tuple[str, str], list[int]] = {}
        self.job_ids: list[str] = []

    def send(self, method: str, path: str, request: dict[str, Any]) -> None:
        url = path
        for name, value in request.get("path", {}).items():
            url = url.replace("{" + name + "}", str(value).replace("{job}", self.some_job()))
        headers = {name: f"{NAMES[0]}" for name in ("X-Function", "X-Task", "Func")}
        headers.update(request.get("headers", {}))
        headers["Idempotency-Key"] = f"{NAMES[1]}.{next(self.keys)}"
        body = request.get("json")
        content = None
        if path.endswith("/webhooks/payments") and body is not None:
            body = {**body, "id": f"evt_probe_{next(self.keys)}"}  # a new event each time
            content, signed = sign_event(body)
            headers.update(signed)
            body = None
        answer = self.client.request(
            method, url, params=request.get("query"), json=body, content=content, headers=headers
        )
        self.statuses.setdefault((method, path), []).append(answer.status_code)
        if answer.status_code < 300 and "json" in answer.headers.get("content-type", ""):
            found = answer.json()
            if isinstance(found, dict):
                ids = [found.get("job_id"), *(found.get("jobs") or {}).values()]
                self.job_ids += [each for each in ids if isinstance(each, str)]

    def some_job(self) -> str:
        return self.job_ids[0] if self.job_ids else "no-job-yet"

    def run(self, app: FastAPI) -> None:
        """Every operation: its valid requests, then hostile ones built from its schema."""
        ops = list(operations(app))
        for method, path, _, _ in ops:  # first the valid ones, which queue jobs
            for request in VALID.get((method, path), [{}]):
                self.send(method, path, request)
        for method, path, operation, components in ops:
            for request in hostile(VALID.get((method, path), [{}]), operation, components):
                self.send(method, path, request)


def hostile(valid: list[dict], operation: dict, components: dict) -> Iterator[dict]:
    """Requests whose strings are dotted names: every parameter at once; each body field in
    turn, the rest of a valid body kept (so that the request may be accepted); extra fields."""
    params = operation.get("parameters", [])
    schema = body_schema(operation, components)
    for name in NAMES:
        where: dict[str, dict] = {"path": {}, "query": {}, "headers": {}}
        for param in params:
            place = {"header": "headers"}.get(param["in"], param["in"])
            if place in where:
                where[place][param["name"]] = name
        where["query"].update(dict.fromkeys(EXTRA, name))
        everything = dict.fromkeys(string_fields(schema), name) | dict.fromkeys(EXTRA, name)
        yield {**where, "json": everything if schema else None}
        for example in valid:
            body = example.get("json")
            base = {**example, "query": {**example.get("query", {}), **where["query"]}}
            yield {**base, "headers": where["headers"]}
            if body is None:
                continue
            yield {**base, "json": {**body, **dict.fromkeys(EXTRA, name)}}
            for field in string_fields(schema):
                changed = copy.deepcopy(body)
                changed[field] = name
                yield {**base, "json": changed}


def jobs_in(connection: Redis) -> list[Job]:
    """Every job Redis holds in this database (keys rq:job:<id>)."""
    found = []
    for key in connection.scan_iter("rq:job:*", count=1000):
        job_id = key.decode().removeprefix("rq:job:")
        if ":" in job_id or connection.type(key) != b"hash":
            continue  # rq:job:<id>:dependents and the like
        found.append(Job.fetch(job_id, connection=connection))
    return found


def foreign(jobs: list[Job]) -> list[str]:
    """What the jobs name that the API's code does not queue: functions and callbacks."""
    names = []
    for job in jobs:
        if job.func_name not in ALLOWED:
            names.append(f"job {job.id} runs {job.func_name}")
        raw = job.connection.hmget(job.key, CALLBACK_FIELDS)
        for field, value in zip(CALLBACK_FIELDS, raw, strict=True):
            if value and value.decode() not in ALLOWED_CALLBACKS:
                names.append(f"job {job.id} has {field} {value.decode()}")
    return names


def test_no_request_chooses_the_function_a_job_runs(reference_app, redis_conn, dashboard_on):
    """Over every operation, with dotted names in every string and in extra fields: every
    job queued runs one of the API's own functions, and every one of those was queued."""
    probe = Probe(TestClient(reference_app, headers={"Origin": "http://testserver"}))
    probe.client.auth = dashboard_on  # the dashboard on, the probe on its own pages
    probe.run(reference_app)
    sent = sum(map(len, probe.statuses.values()))
    assert not [op for op, codes in probe.statuses.items() if 500 in codes], probe.statuses
    jobs = jobs_in(redis_conn)
    assert not foreign(jobs), foreign(jobs)
    queued = {job.func_name for job in jobs}
    assert queued == ALLOWED, f"never queued by the {sent} requests: {ALLOWED - queued}"
    reached = {op for op, codes in probe.statuses.items() if {*codes} - {404, 422}}
    assert set(VALID) <= reached, f"no request got past validation: {set(VALID) - reached}"


def test_no_request_field_names_a_function(reference_app):
    """No operation's parameters or body fields are called like a function to run."""
    found = []
    for method, path, operation, components in operations(reference_app):
        names = [param["name"] for param in operation.get("parameters", [])]
        names += list(body_schema(operation, components).get("properties", {}))
        found += [f"{method} {path}: {name}" for name in names if name.lower() in EXTRA]
    assert not found, found


class RunRequest(BaseModel):
    func: str


@pytest.fixture
def careless_app(redis_conn) -> FastAPI:
    """An API with an endpoint that queues the function a client names: what must not be."""
    router = APIRouter()

    @router.post("/run", status_code=202)
    def run(body: RunRequest, queue: EmailQueue) -> dict:
        return {"job_id": queue.enqueue(body.func).id}

    return create_app("careless", get_queue, routers=[router])


def test_the_probe_finds_an_endpoint_that_queues_a_client_named_function(careless_app, redis_conn):
    """The same probe, on an app whose POST /run queues body.func, finds those jobs."""
    Probe(TestClient(careless_app)).run(careless_app)
    named = foreign(jobs_in(redis_conn))
    assert any("runs os.system" in line for line in named), named

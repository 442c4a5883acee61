"""What guards the producer's API (provided code: lab/support/api/ models.py, deps.py,
errors.py, docs.py, body_limit.py), on the reference producer: numbers that JSON cannot
carry, work that a job could not finish in its timeout, bodies too large to read, jobs of
other queues or that cannot be loaded, and the error answers the OpenAPI schema documents.

None of these tests checks learner code, so none is an exercise test: they run on
solutions/ whatever --impl says."""

from __future__ import annotations

import json
import re
import socket
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from redis import Redis
from rq import Queue
from rq.job import Job

from lab.support.api import create_app, provided_router
from lab.support.config import get_settings
from lab.support.queueing.jobs import wait_for_status
from lab.support.servers.processes import start_api, start_worker
from solutions import tasks

ADDRESS = "user@example.com"
#: Numbers a JSON body may hold that no delay can be, as a client could send them.
BAD_NUMBERS = {
    "NaN": "NaN",
    "Infinity": "Infinity",
    "-Infinity": "-Infinity",
    "1e309": "1e309",  # too large for a float: Python reads it as Infinity
    "false": "false",
    "true": "true",
    "text": '"2"',
    "list": "[1]",
}
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def api(reference_api: TestClient) -> TestClient:
    """The reference producer in this process, on the tests' database."""
    return reference_api


@pytest.fixture
def strategies_api(redis_conn: Redis, fresh_app) -> Iterator[TestClient]:
    """Step 04's reference app (the strategies, with the producer under /queued)."""
    from solutions.strategies import app

    with TestClient(fresh_app(app)) as client:
        yield client
    fresh_app(app)


def openapi(client: TestClient) -> dict:
    return client.get("/openapi.json").json()


def delay_schema(spec: dict, model: str) -> dict:
    """The JSON schema of `model`'s delay, without its null alternative."""
    delay = spec["components"]["schemas"][model]["properties"]["delay"]
    return next((s for s in delay.get("anyOf", [delay]) if s.get("type") == "number"), delay)


# --- 1. numbers that JSON cannot carry, and numbers of the wrong type --------------------------


def body_with(path: str, number: str) -> str:
    if path.endswith("newsletters"):
        return f'{{"addresses": ["{ADDRESS}"], "delay": {number}}}'
    return f'{{"email": "{ADDRESS}", "delay": {number}}}'


def assert_names_the_delay(response: httpx.Response, number: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/json"
    problem = response.json()["detail"][0]
    assert problem["loc"] == ["body", "delay"]
    if number in ("NaN", "Infinity", "-Infinity", "1e309"):
        assert problem["input"] in ("NaN", "Infinity", "-Infinity")  # sent back as text


@pytest.mark.parametrize("number", BAD_NUMBERS.values(), ids=BAD_NUMBERS.keys())
@pytest.mark.parametrize("keyed", [False, True], ids=["no-key", "Idempotency-Key"])
@pytest.mark.parametrize("path", ["/emails", "/newsletters"])
def test_a_bad_number_is_422_naming_the_field(api, queue, path, keyed, number):
    headers = {**JSON, **({"Idempotency-Key": f"bad-{number}"} if keyed else {})}
    response = api.post(path, content=body_with(path, number), headers=headers)
    assert_names_the_delay(response, number)
    assert queue.count == 0


@pytest.mark.parametrize("number", BAD_NUMBERS.values(), ids=BAD_NUMBERS.keys())
@pytest.mark.parametrize(
    "path", ["/blocking/async", "/blocking/def", "/background", "/noop", "/queued/emails"]
)
def test_a_bad_number_is_422_on_every_strategy_endpoint(strategies_api, path, number):
    response = strategies_api.post(path, content=body_with(path, number), headers=JSON)
    assert_names_the_delay(response, number)


def exchange(sock: socket.socket, request: bytes) -> tuple[int, bytes]:
    """Send one HTTP/1.1 request on `sock`, read its answer (status, body)."""
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"the server closed the connection after {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"content-length: (\d+)", head, re.IGNORECASE)[1])
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection mid-answer")
        body += chunk
    return int(head.split()[1]), body


def post_raw(path: str, body: str, key: str | None = None) -> bytes:
    headers = f"Idempotency-Key: {key}\r\n" if key else ""
    raw = body.encode()
    return (
        f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n{headers}"
        f"Content-Length: {len(raw)}\r\n\r\n"
    ).encode() + raw


@pytest.mark.parametrize(
    ("module", "paths"),
    [
        ("producer", ["/emails", "/newsletters"]),
        ("strategies", ["/blocking/def", "/queued/emails"]),
    ],
)
def test_one_kept_alive_connection_survives_every_bad_number(redis_conn, module, paths):
    """A real uvicorn, one TCP connection: each bad number gets its 422, and the next request
    on the same connection is answered (a 500 here used to reset the connection)."""
    with start_api(package="solutions", module=module) as api:
        port = int(api.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            for path in paths:
                for i, number in enumerate(BAD_NUMBERS.values()):
                    for key in (None, f"k{i}{path}"):
                        status, body = exchange(sock, post_raw(path, body_with(path, number), key))
                        assert status == 422, (path, number, body)
                        assert json.loads(body)["detail"][0]["loc"] == ["body", "delay"]
            status, _ = exchange(sock, b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n")
            assert status == 200


# --- 2. every job's timeout covers the work it was asked to do -------------------------------


def test_the_longest_email_the_api_accepts_fits_in_its_job_timeout(api, queue):
    most = delay_schema(openapi(api), "EmailRequest")["maximum"]
    response = api.post("/emails", json={"email": ADDRESS, "delay": most})
    assert response.status_code == 202
    job = Job.fetch(response.json()["job_id"], connection=queue.connection)
    assert job.timeout >= most, f"a {most} s email in a job that may run {job.timeout} s"
    refused = api.post("/emails", json={"email": ADDRESS, "delay": most + 1})
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "delay"]
    default = Job.fetch(api.get(f"/send-email/{ADDRESS}").json()["job_id"], queue.connection)
    assert default.timeout >= get_settings().email_delay


def test_a_newsletter_gets_a_timeout_that_covers_all_its_emails(api, queue):
    spec = openapi(api)
    most = delay_schema(spec, "NewsletterRequest")["maximum"]
    addresses = [f"reader{i}@example.com" for i in range(10)]
    response = api.post("/newsletters", json={"addresses": addresses, "delay": most / 10})
    assert response.status_code == 202
    job = Job.fetch(response.json()["job_id"], connection=queue.connection)
    assert job.timeout >= len(addresses) * most / 10
    # The example: 1,000 addresses at 60 s each, 60,000 s of work.
    many = [f"reader{i}@example.com" for i in range(1000)]
    refused = api.post("/newsletters", json={"addresses": many, "delay": 60})
    assert refused.status_code == 422
    message = refused.json()["detail"][0]["msg"]
    assert "1000 addresses at 60 s each take 60000 s" in message and "JOB_TIMEOUT" in message
    assert queue.count == 1


def test_the_limits_are_in_the_openapi_schema(api):
    spec = openapi(api)
    settings = get_settings()
    for model in ("EmailRequest", "NewsletterRequest"):
        delay = delay_schema(spec, model)
        assert delay["minimum"] == 0 and delay["maximum"] == settings.max_work_seconds
    addresses = spec["components"]["schemas"]["NewsletterRequest"]["properties"]["addresses"]
    assert addresses["maxItems"] == 1000
    assert f"at most {settings.max_work_seconds:g} s" in addresses["description"]
    assert "JOB_TIMEOUT" in addresses["description"]


def test_the_limits_are_read_when_an_app_uses_them_not_when_it_is_imported(redis_conn, monkeypatch):
    """JOB_TIMEOUT=20 set after every module was imported: an app built now states 18 s in
    its schema, refuses more, and gives its jobs 20 s."""
    from solutions import producer
    from solutions.connection import get_queue

    monkeypatch.setenv("JOB_TIMEOUT", "20")
    monkeypatch.setenv("EMAIL_DELAY", "1")
    get_settings.cache_clear()
    app = create_app("limits", get_queue, routers=[producer.router, provided_router(tasks)])
    with TestClient(app) as client:
        spec = openapi(client)
        for model in ("EmailRequest", "NewsletterRequest"):
            assert delay_schema(spec, model)["maximum"] == 18
        addresses = spec["components"]["schemas"]["NewsletterRequest"]["properties"]["addresses"]
        assert "at most 18 s" in addresses["description"]
        refused = client.post("/emails", json={"email": ADDRESS, "delay": 18.5})
        assert refused.status_code == 422, refused.text
        assert refused.json()["detail"][0]["msg"] == "Input should be less than or equal to 18"
        accepted = client.post("/emails", json={"email": ADDRESS, "delay": 18})
        assert accepted.status_code == 202, accepted.text
    assert Job.fetch(accepted.json()["job_id"], connection=redis_conn).timeout == 20


def test_with_a_short_job_timeout_a_real_worker_finishes_all_the_api_accepted(redis_conn):
    """JOB_TIMEOUT=2: the API accepts only work that fits (1.8 s), and a real worker finishes
    all of it, in jobs whose timeout is 2 s. (EMAIL_DELAY, the default delay, must fit too.)"""
    env = {"JOB_TIMEOUT": "2", "EMAIL_DELAY": "1"}
    with start_api(package="solutions", env=env) as api, httpx.Client(base_url=api.url) as http:
        accepted = [
            http.post("/emails", json={"email": ADDRESS, "delay": 1.5}),
            http.post("/newsletters", json={"addresses": [ADDRESS] * 3, "delay": 0.5}),
        ]
        refused = [
            http.post("/emails", json={"email": ADDRESS, "delay": 2.5}),
            http.post("/newsletters", json={"addresses": [ADDRESS] * 4, "delay": 0.5}),
        ]
    assert [r.status_code for r in accepted] == [202, 202], [r.text for r in accepted]
    assert [r.status_code for r in refused] == [422, 422], [r.text for r in refused]
    jobs = [Job.fetch(r.json()["job_id"], connection=redis_conn) for r in accepted]
    assert [job.timeout for job in jobs] == [2, 2]
    with start_worker("--burst", package="solutions", env=env) as worker:
        assert worker.wait(30) == 0, worker.output()
    assert [wait_for_status(job) for job in jobs] == ["finished", "finished"]


# --- 3. bodies too large to read, and answers that echo a short prefix only -----------------


@pytest.mark.parametrize(
    ("method", "path", "key"),
    [
        ("POST", "/emails", None),
        ("POST", "/emails", "big-1"),
        ("POST", "/newsletters", None),
        ("GET", "/health", None),
    ],
    ids=["emails", "emails-with-key", "newsletters", "health"],
)
def test_a_body_over_max_body_bytes_is_413_json(api, queue, method, path, key):
    limit = get_settings().max_body_bytes
    assert limit == 65536
    padding = "x" * limit
    body = json.dumps({"email": ADDRESS, "addresses": [ADDRESS], "padding": padding})
    headers = {**JSON, **({"Idempotency-Key": key} if key else {})}
    response = api.request(method, path, content=body, headers=headers)
    assert response.status_code == 413
    assert "MAX_BODY_BYTES" in response.json()["detail"]
    assert queue.count == 0
    small = json.dumps({"email": ADDRESS, "padding": "x" * (limit - 100)})
    assert api.post("/emails", content=small, headers=JSON).status_code == 202


def rss_mb(pid: int) -> float | None:
    status = Path(f"/proc/{pid}/status")
    if not status.exists():
        return None
    kb = re.search(r"VmRSS:\s+(\d+)", status.read_text())
    return int(kb[1]) / 1024 if kb else None


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_a_100_mb_body_is_refused_without_being_read(redis_conn, declared):
    size, chunk = 100 * 2**20, b"x" * 2**20
    pushed = 0

    def body() -> Iterator[bytes]:
        nonlocal pushed
        yield b'{"email": "user@example.com", "padding": "'
        while pushed < size:
            pushed += len(chunk)
            yield chunk

    headers = {**JSON, "Idempotency-Key": "a-big-one"}
    if declared:
        headers["Content-Length"] = str(size + 42)
    with start_api(package="solutions") as api:
        before = rss_mb(api.process.pid)
        try:
            response = httpx.post(f"{api.url}/emails", content=body(), headers=headers, timeout=30)
            status, detail = response.status_code, response.json()["detail"]
        except httpx.TransportError as exc:  # the server closed before all was sent
            status, detail = None, str(exc)
        after = rss_mb(api.process.pid)
    assert status == 413, detail
    assert "MAX_BODY_BYTES" in detail
    assert pushed < size // 4, f"the server read {pushed // 2**20} MB of a body it refused"
    if before is not None:
        assert after - before < 20, f"the API grew from {before:.0f} MB to {after:.0f} MB"


def test_a_422_echoes_only_a_short_prefix_of_what_was_sent(api, queue):
    huge = "a" * 60_000 + "@example.com"
    response = api.post("/emails", json={"email": huge})
    assert response.status_code == 422
    assert len(response.content) < 2000
    echoed = response.json()["detail"][0]["input"]
    assert huge.startswith(echoed.rstrip(".")) and len(echoed) < 100
    long_path = "b" * 8000 + "@example.com"
    response = api.get(f"/send-email/{long_path}")
    assert response.status_code == 422 and len(response.content) < 2000
    response = api.post("/newsletters", json={"delay": 1, "padding": ["x" * 1000] * 50})
    assert response.status_code == 422 and len(response.content) < 2000  # "addresses" missing
    assert queue.count == 0


# --- 4. only jobs of the producer's own queues; jobs that cannot be loaded --------------------

ACTIONS = [("GET", ""), ("POST", "/retry"), ("POST", "/cancel")]


def test_a_job_of_another_queue_is_404_and_left_alone(api, redis_conn):
    theirs = Queue("someone_elses_queue", connection=redis_conn)
    job = theirs.enqueue(tasks.send_fake_email, ADDRESS, 0)
    for method, action in ACTIONS:
        response = api.request(method, f"/jobs/{job.id}{action}")
        assert response.status_code == 404, (action, response.text)
        assert job.id in response.json()["detail"]
    assert job.get_status(refresh=True) == "queued"
    assert theirs.job_ids == [job.id]


def test_job_queues_adds_queues_whose_jobs_the_api_may_act_on(api, redis_conn, monkeypatch):
    monkeypatch.setenv("JOB_QUEUES", "later, high")
    get_settings.cache_clear()
    job = Queue("later", connection=redis_conn).enqueue(tasks.send_fake_email, ADDRESS, 0)
    assert api.get(f"/jobs/{job.id}").json()["status"] == "queued"
    assert api.post(f"/jobs/{job.id}/cancel").json()["status"] == "canceled"
    other = Queue("elsewhere", connection=redis_conn).enqueue(tasks.send_fake_email, ADDRESS, 0)
    assert api.get(f"/jobs/{other.id}").status_code == 404


def damage(redis_conn: Redis, queue: Queue, how: str) -> str:
    """The id of a job of `queue` that the API cannot load, damaged in the way `how`."""
    job = queue.enqueue(tasks.send_fake_email, ADDRESS, 0)
    key = job.key
    if how == "unimportable":  # pickled with a module the API does not have
        redis_conn.hset(key, "data", zlib.compress(b"cworkbook_no_such_module\nthing\n."))
    elif how == "malformed-field":
        redis_conn.hset(key, "retries_left", "many")
    elif how == "progress-not-a-dict":  # loads, but does not fit JobState
        job.meta["progress"] = 5
        job.save_meta()
    return job.id


@pytest.mark.parametrize(
    ("how", "named", "method", "action"),
    [
        *(("unimportable", "ModuleNotFoundError", m, a) for m, a in ACTIONS),
        *(("malformed-field", "ValueError", m, a) for m, a in ACTIONS),
        ("progress-not-a-dict", "progress", "GET", ""),  # loads, but does not fit JobState
    ],
    ids=lambda value: value.strip("/") or "get" if isinstance(value, str) else value,
)
def test_a_job_that_cannot_be_loaded_is_422_naming_the_problem(
    api, queue, redis_conn, how, named, method, action
):
    job_id = damage(redis_conn, queue, how)
    response = api.request(method, f"/jobs/{job_id}{action}")
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert f"Job {job_id} cannot be read by this API" in detail and named in detail
    assert "Traceback" not in detail
    if how != "progress-not-a-dict":  # refused before anything was done to it
        assert redis_conn.hget(f"rq:job:{job_id}", "status") == b"queued"


def test_a_key_that_is_not_a_job_is_404(api, redis_conn):
    redis_conn.set("rq:job:not-a-hash", "x")
    assert api.get("/jobs/not-a-hash").status_code == 404


# --- 6. the documented contract --------------------------------------------------------------


def documented(spec: dict) -> dict[str, set[int]]:
    return {
        f"{method.upper()} {path}": {int(code) for code in operation["responses"]}
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
    }


def test_every_error_status_an_endpoint_answers_is_documented_with_its_json_shape(api):
    spec = openapi(api)
    codes = documented(spec)
    expected = {
        "GET /send-email/{email}": {200, 404, 413, 422, 431, 503},
        "POST /emails": {202, 400, 409, 413, 422, 431, 503},
        "GET /health": {200, 413, 431, 503},
        "POST /newsletters": {202, 400, 409, 413, 422, 431, 503},
        "GET /failures": {200, 413, 422, 431, 503},
        "GET /jobs/{job_id}": {200, 404, 413, 422, 431, 503},
        "POST /jobs/{job_id}/retry": {200, 404, 409, 413, 422, 431, 503},
        "POST /jobs/{job_id}/cancel": {200, 404, 409, 413, 422, 431, 503},
        "POST /repositories": {202, 400, 409, 413, 422, 431, 503},
        "POST /webhooks/payments": {200, 202, 400, 409, 413, 422, 431, 503},
        "GET /stats": {200, 413, 431, 503},
        "GET /metrics": {200, 413, 431, 503},
    }
    assert codes == expected
    for name, statuses in codes.items():
        method, path = name.split()
        for code in statuses - {200, 202}:
            answer = spec["paths"][path][method.lower()]["responses"][str(code)]
            schema = answer["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
            shape = "Health" if (path, code) == ("/health", 503) else "ErrorAnswer"
            assert schema == shape, (name, code)
            assert answer["description"]
    detail = spec["components"]["schemas"]["ErrorAnswer"]["properties"]["detail"]
    assert {"type": "string"} in detail["anyOf"]


def test_the_job_id_is_described_as_rq_makes_it(api):
    parameter = openapi(api)["paths"]["/jobs/{job_id}"]["get"]["parameters"][0]
    assert parameter["name"] == "job_id"
    assert "UUID" in parameter["description"] and "36 characters" in parameter["description"]
    assert "hex" not in parameter["description"]


# --- 7. what GET /failures covers ------------------------------------------------------------


def test_failures_says_what_it_covers_and_the_code_agrees(api, queue):
    operation = openapi(api)["paths"]["/failures"]["get"]
    description = operation["description"]
    for words in ("Covered:", "POST /newsletters", "Not covered: emails", "work horse"):
        assert words in description, words
    route = next(r for r in provided_router(tasks).routes if r.path == "/failures")
    assert "not emails of POST /emails" in route.endpoint.__doc__
    newsletter = api.post("/newsletters", json={"addresses": [ADDRESS], "delay": 0}).json()
    email = api.post("/emails", json={"email": ADDRESS, "delay": 0}).json()
    callbacks = {
        name: Job.fetch(answer["job_id"], connection=queue.connection).failure_callback
        for name, answer in (("newsletter", newsletter), ("email", email))
    }
    assert callbacks == {"newsletter": tasks.record_failure, "email": None}


def test_failures_skips_entries_that_are_not_json_objects(api, redis_conn):
    redis_conn.lpush(tasks.FAILURES_KEY, "not json", "[1, 2]", json.dumps({"job_id": "x"}))
    assert api.get("/failures").json() == [{"job_id": "x"}]

"""Step 08e: lab/webhooks.py - signature(), verify_signature() and queue_payment() behind the
provided POST /webhooks/payments, in process and with a real API and worker.

The known signatures are computed here with hmac directly, never with the code under test."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import statistics
import threading
import time

import httpx
import pytest
from redis import Redis
from rq import Queue
from rq.registry import FinishedJobRegistry

from lab.support.config import DEV_WEBHOOK_SECRET, get_settings
from lab.support.course.helpers import unexpected
from lab.support.queueing.jobs import job_outcome, wait_for_status
from lab.support.servers.processes import last_line, start_api, start_worker

SECRET = "whsec_test_secret"
T = 1_700_000_000
BODY = b'{"id": "evt_1", "type": "payment.succeeded", "data": {"amount": 4200}}'
PATH = "/webhooks/payments"
#: What the worker's log says once per job that ran to its end.
JOB_OK = "Job OK ({})"


def mac(secret: str, timestamp: int | str, body: bytes) -> str:
    """The v1 of the scheme, computed here: hex HMAC-SHA256 of b"<t>." + body."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def event(event_id: str = "evt_1", kind: str = "payment.succeeded") -> dict:
    return {"id": event_id, "type": kind, "data": {"amount": 4200}}


def signed(body: bytes | dict, secret: str | None = None, t: int | None = None) -> dict:
    """The request a provider sends: the body's bytes and a Signature over them."""
    raw = json.dumps(body).encode() if isinstance(body, dict) else body
    secret = get_settings().webhook_secret if secret is None else secret
    stamp = int(time.time()) if t is None else t
    headers = {"Signature": f"t={stamp},v1={mac(secret, stamp, raw)}"}
    return {"content": raw, "headers": {**headers, "Content-Type": "application/json"}}


def deliver(client, request: dict):
    """POST the request; no answer, whatever its status, may hold the secret."""
    response = client.post(PATH, **request)
    secret = get_settings().webhook_secret
    assert secret not in response.text, f"the answer holds the secret: {response.text[:300]}"
    return response


def refuses(webhooks, case: str, header: str | None, body: bytes = BODY, now: float = T,
            **tolerance: int) -> str:  # fmt: skip
    """The reason BadSignature gives for `header`; a failure saying `case` if it is accepted."""
    try:
        got = webhooks.verify_signature(SECRET, header, body, now, **tolerance)
    except webhooks.BadSignature as exc:
        assert str(exc).strip(), f"BadSignature for {case} says nothing: give the reason"
        return str(exc)
    pytest.fail(f"{case} was accepted (verify_signature() returned {got!r}): raise BadSignature")


def accepts(webhooks, case: str, header: str, now: float = T, **tolerance: int) -> None:
    """verify_signature() of `header` over BODY returns T; a failure saying `case` if not."""
    try:
        got = webhooks.verify_signature(SECRET, header, BODY, now, **tolerance)
    except webhooks.BadSignature as exc:
        pytest.fail(f"{case} was refused: {exc}")
    assert got == T, f"{case}: verify_signature() returned {got!r}, not its t ({T})"


# --- signature() ------------------------------------------------------------------------


def test_signature_is_the_hex_hmac_sha256_of_t_dot_body(webhooks):
    """signature(secret, t, body) is the hex HMAC-SHA256 of b"<t>." + body keyed with the secret."""
    cases = [
        (SECRET, T, BODY),
        ("whsec_süßer_schlüssel", 5, '{"name": "Zoë"}'.encode()),  # UTF-8 secret and body
        (SECRET, T, b""),
    ]
    for secret, t, body in cases:
        got = webhooks.signature(secret, t, body)
        expected = mac(secret, t, body)
        assert got == expected, (
            f"signature({secret!r}, {t}, {body!r}) returned {got!r}, not {expected!r}: hmac.new("
            "secret.encode(), f'{t}.'.encode() + body, hashlib.sha256).hexdigest()"
        )


# --- verify_signature() -----------------------------------------------------------------


def test_verify_signature_returns_the_timestamp_of_a_good_header(webhooks):
    """verify_signature() of a header signed with the secret returns its t, an int."""
    header = f"t={T},v1={mac(SECRET, T, BODY)}"
    got = webhooks.verify_signature(SECRET, header, BODY, T + 10.5)
    assert got == T and isinstance(got, int), f"a good header gave {got!r}, not the int {T}"


def test_bad_signature_is_a_value_error(webhooks):
    """BadSignature is a ValueError, and verify_signature() raises it for a wrong signature."""
    assert issubclass(webhooks.BadSignature, ValueError)
    refuses(webhooks, "a v1 of 64 zeros", f"t={T},v1={'0' * 64}")


MALFORMED = [
    ("no header", None, T),
    ("an empty header", "", T),
    ("no t", f"v1={mac(SECRET, T, BODY)}", T),
    ("no v1", f"t={T}", T),
    ("an empty v1", f"t={T},v1=", T),
    ("no = at all", "garbage", T),
    ("t not a number", f"t=abc,v1={mac(SECRET, 'abc', BODY)}", T),
    # Each t below comes with the v1 that int() or float() of it would expect, at a `now`
    # near that value: only a check that t is ASCII digits refuses them.
    ("a negative t", f"t=-5,v1={mac(SECRET, -5, BODY)}", 0),
    ("a t with a sign", f"t=+5,v1={mac(SECRET, 5, BODY)}", 5),
    ("a decimal t", f"t=1.5,v1={mac(SECRET, '1.5', BODY)}", 1.5),
    ("a t of non-ASCII digits", f"t=١٢,v1={mac(SECRET, 12, BODY)}", 12),
]


@pytest.mark.parametrize(("case", "header", "now"), MALFORMED, ids=[c[0] for c in MALFORMED])
def test_verify_signature_refuses_a_missing_or_malformed_header(webhooks, case, header, now):
    """verify_signature() raises BadSignature, saying why, for a missing or malformed header.

    The header is t=<unix seconds: ASCII digits only>,v1=<hex>."""
    refuses(webhooks, f"a header with {case} ({header!r})", header, now=now)


@pytest.mark.parametrize("age", [301, -301, 1000, -86400])
def test_verify_signature_refuses_a_timestamp_over_tolerance_from_now(webhooks, age):
    """verify_signature() refuses a good signature whose t is over 300 s before or after `now`."""
    header = f"t={T},v1={mac(SECRET, T, BODY)}"
    when = "old" if age > 0 else "in the future"
    refuses(webhooks, f"a signature {abs(age)} s {when}", header, now=T + age)


def test_verify_signature_accepts_exactly_tolerance_seconds_either_way(webhooks):
    """verify_signature() accepts t exactly 300 s before or after `now`: refused only beyond."""
    assert webhooks.TOLERANCE == 300, f"TOLERANCE is {webhooks.TOLERANCE}, not 300"
    header = f"t={T},v1={mac(SECRET, T, BODY)}"
    for age in (300, -300, 0):
        case = f"a t {abs(age)} s {'before' if age >= 0 else 'after'} now (refuse only beyond 300)"
        accepts(webhooks, case, header, now=T + age)


def test_verify_signature_uses_the_tolerance_and_now_it_is_given(webhooks):
    """verify_signature() judges t by the `now` and `tolerance` it is given, not clock or 300."""
    header = f"t={T},v1={mac(SECRET, T, BODY)}"
    accepts(webhooks, "with tolerance=10, a t 10 s old", header, now=T + 10, tolerance=10)
    refuses(webhooks, "with tolerance=10, a t 11 s old", header, now=T + 11, tolerance=10)
    now = int(time.time())  # a header of the clock's now, judged at a `now` a day later
    fresh = f"t={now},v1={mac(SECRET, now, BODY)}"
    refuses(webhooks, "a t a day before the `now` given", fresh, now=now + 86400)


MISMATCHED = [
    ("signed with another secret", mac("whsec_other", T, BODY), BODY),
    ("a body changed by one byte", mac(SECRET, T, BODY), BODY.replace(b"4200", b"4201")),
    ("a v1 of another timestamp", mac(SECRET, T - 1, BODY), BODY),
    ("a v1 in capitals", mac(SECRET, T, BODY).upper(), BODY),
    ("a v1 cut short", mac(SECRET, T, BODY)[:32], BODY),
]


@pytest.mark.parametrize(("case", "v1", "body"), MISMATCHED, ids=[c[0] for c in MISMATCHED])
def test_verify_signature_refuses_a_signature_that_does_not_match(webhooks, case, v1, body):
    """verify_signature() raises BadSignature when no v1 is the body's signature at t."""
    refuses(webhooks, case, f"t={T},v1={v1}", body)


def test_verify_signature_accepts_any_of_several_v1(webhooks):
    """verify_signature() accepts a header with several v1 if any matches (secret rotation)."""
    good, old = mac(SECRET, T, BODY), mac("whsec_previous", T, BODY)
    rotated = "t=...,v1=<old secret's>,v1=<good> (accept if any v1 matches)"
    accepts(webhooks, rotated, f"t={T},v1={old},v1={good}")
    accepts(webhooks, "t=...,v1=<good>,v1=<old secret's>", f"t={T},v1={good},v1={old}")
    refuses(webhooks, "two v1, neither matching", f"t={T},v1={old},v1={'0' * 64}")


def test_verify_signature_compares_with_hmac_compare_digest(webhooks, monkeypatch):
    """verify_signature() decides with hmac.compare_digest (constant time), not with ==."""
    good = mac(SECRET, T, BODY)
    header = f"t={T},v1={good}"
    real = hmac.compare_digest
    calls: list[tuple] = []
    answer: list[bool | None] = [None]  # None: the real answer

    def compare_digest(a, b):
        calls.append((a, b))
        return real(a, b) if answer[0] is None else answer[0]

    # hmac.compare_digest, `from hmac import compare_digest` and secrets.compare_digest alike.
    for owner in (hmac, secrets, webhooks):
        if hasattr(owner, "compare_digest"):
            monkeypatch.setattr(owner, "compare_digest", compare_digest)

    assert webhooks.verify_signature(SECRET, header, BODY, T) == T
    # The hex digests (as str or bytes), or the raw digests.
    compared = {
        form
        for pair in calls
        for x in pair
        for form in ((x.hex(), x.decode(errors="replace")) if isinstance(x, bytes) else (x,))
    }
    assert good in compared, (
        f"hmac.compare_digest was called {len(calls)} times, never on the expected signature"
        " and the given v1: compare them with hmac.compare_digest(expected, given), not =="
    )
    answer[0] = False  # a compare_digest that says "different": a good header is refused
    with pytest.raises(webhooks.BadSignature):
        webhooks.verify_signature(SECRET, header, BODY, T)
        pytest.fail("the signature was accepted although hmac.compare_digest said no: use it")


# --- queue_payment() ----------------------------------------------------------------------


def test_queue_payment_queues_process_payment_under_the_event_id(webhooks, queue, monkeypatch):
    """queue_payment() returns (event id, True): process_payment(event), job id = event id.

    Its result is kept IDEMPOTENCY_TTL seconds, the setting read when it runs."""
    monkeypatch.setenv("IDEMPOTENCY_TTL", "4321")
    get_settings.cache_clear()
    got = webhooks.queue_payment(queue, event("evt_a"))
    assert got == ("evt_a", True), f"the first call returned {got!r}, not ('evt_a', True)"
    assert queue.job_ids == ["evt_a"], f"the queue holds {queue.job_ids}, not ['evt_a']"
    job = queue.fetch_job("evt_a")
    assert job.func_name.endswith("webhooks.process_payment"), f"the job runs {job.func_name}"
    assert job.args == (event("evt_a"),), f"the job's arguments are {job.args}, not (event,)"
    assert job.result_ttl == 4321, (
        f"the job's result_ttl is {job.result_ttl}, not IDEMPOTENCY_TTL (4321 here):"
        " pass result_ttl=get_settings().idempotency_ttl"
    )


def test_queue_payment_of_an_event_received_before_queues_nothing(webhooks, queue):
    """queue_payment() of the same event id again returns (id, False) and leaves the one job."""
    webhooks.queue_payment(queue, event("evt_a"))
    again = {**event("evt_a"), "data": {"amount": 1}}  # the same event id, other data
    got = webhooks.queue_payment(queue, again)
    assert got == ("evt_a", False), f"the second call returned {got!r}, not ('evt_a', False)"
    assert queue.connection.lrange(queue.key, 0, -1) == [b"evt_a"], (
        f"the queue holds {queue.connection.lrange(queue.key, 0, -1)}: enqueue with unique=True"
        " so that a repeat adds no second entry"
    )
    assert queue.fetch_job("evt_a").args == (event("evt_a"),), "the repeat replaced the job"
    other = webhooks.queue_payment(queue, event("evt_b"))
    assert other == ("evt_b", True), f"another event returned {other!r}, not ('evt_b', True)"
    assert queue.job_ids == ["evt_a", "evt_b"], f"the queue holds {queue.job_ids}"


def test_queue_payment_of_an_event_already_processed_queues_nothing(
    webhooks, queue, run_queued_jobs
):
    """queue_payment() of an event whose job has finished returns (id, False): it is not re-run."""
    webhooks.queue_payment(queue, event("evt_a"))
    run_queued_jobs(queue)
    assert wait_for_status(queue.fetch_job("evt_a"), timeout=5) == "finished"
    ttl = queue.connection.ttl(queue.fetch_job("evt_a").key)
    idempotency_ttl = get_settings().idempotency_ttl
    assert idempotency_ttl - 60 < ttl <= idempotency_ttl, (
        f"the finished job is kept {ttl} s, not IDEMPOTENCY_TTL ({idempotency_ttl} s)"
    )
    got = webhooks.queue_payment(queue, event("evt_a"))
    assert got == ("evt_a", False), f"a delivery after the job finished returned {got!r}"
    assert queue.count == 0, f"{queue.count} jobs were queued again for a processed event"


def test_queue_payment_at_the_same_time_queues_one_job(webhooks, queue, redis_url):
    """queue_payment() of one event from 12 threads at once gives one True and one job."""
    barrier, results = threading.Barrier(12), []
    queues = [Queue(queue.name, connection=Redis.from_url(redis_url)) for _ in range(12)]

    def call(own):
        barrier.wait()
        results.append(webhooks.queue_payment(own, event("evt_race")))

    threads = [threading.Thread(target=call, args=(own,)) for own in queues]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    firsts = [new for _, new in results].count(True)
    assert len(results) == 12 and firsts == 1, (
        f"{firsts} of {len(results)} calls returned True: only one may queue the job - let"
        " enqueue(unique=True) decide, in Redis, rather than checking first"
    )
    assert queue.count == 1, f"the queue holds {queue.count} entries, not 1"


# --- POST /webhooks/payments, in process ------------------------------------------------------


def test_a_signed_event_is_answered_202_with_its_job(client, queue):
    """POST /webhooks/payments of a signed event answers 202 {message, job_id = the event id}."""
    response = deliver(client, signed(event("evt_1")))
    assert response.status_code == 202, unexpected(response, 202)
    answer = response.json()
    assert answer.get("job_id") == "evt_1" and answer.get("message"), (
        f"the answer is {answer}, not a message and job_id 'evt_1'"
    )
    assert queue.job_ids == ["evt_1"], f"the queue holds {queue.job_ids}, not the event's job"


def test_a_repeated_event_is_answered_200_with_the_same_job(client, queue):
    """A second delivery of an event (same bytes, a new signature) answers 200, same job_id."""
    body = json.dumps(event("evt_1")).encode()
    first = deliver(client, signed(body, t=int(time.time()) - 5))
    assert first.status_code == 202, unexpected(first, 202)
    again = deliver(client, signed(body))
    assert again.status_code == 200, unexpected(again, 200)
    answer = again.json()
    assert answer.get("job_id") == "evt_1" and answer.get("message"), (
        f"the repeat answered {answer}, not a message and the same job_id 'evt_1'"
    )
    assert queue.count == 1, f"the queue holds {queue.count} jobs after a repeat, not 1"


def test_a_refused_signature_is_400_saying_why(client, queue):
    """A missing, malformed, stale or wrong signature is answered 400 JSON whose detail says why.

    The answer never holds the secret or the signature the body would need."""
    body = json.dumps(event("evt_1")).encode()
    secret, now = get_settings().webhook_secret, int(time.time())
    good = mac(secret, now, body)
    compact = json.dumps(event("evt_1"), separators=(",", ":")).encode()
    cases = {
        "missing": {"content": body},
        "malformed": {"content": body, "headers": {"Signature": f"v1={good}"}},
        "bad t": {"content": body, "headers": {"Signature": f"t=soon,v1={good}"}},
        "wrong": signed(body, secret="whsec_not_the_secret", t=now),
        "stale": signed(body, t=now - 400),
        "future": signed(body, t=now + 400),
        # Signed as sent by the provider, then re-serialized on the way (other spacing).
        "other bytes": {**signed(body, t=now), "content": compact},
    }
    details = {}
    for case, request in cases.items():
        response = deliver(client, request)
        assert response.status_code == 400, f"{case} signature: {unexpected(response, 400)}"
        detail = response.json().get("detail")
        assert isinstance(detail, str) and detail.strip(), f"{case}: the detail is {detail!r}"
        assert good not in detail and mac(secret, now, compact) not in detail, (
            f"{case}: the detail gives away the expected signature: {detail}"
        )
        details[case] = detail
    why = {details["missing"], details["stale"], details["wrong"]}
    assert len(why) == 3, (
        "a missing header, a stale timestamp and a wrong signature got the same reason"
        f" ({details['missing']!r}): say which check failed"
    )
    assert queue.count == 0, f"{queue.count} jobs were queued for refused events"


def test_a_signed_body_that_is_not_json_is_400(client, queue):
    """A correctly signed body that is not JSON is answered 400, not 500, and queues nothing."""
    for raw in (b"amount=4200", b'{"id": "evt_1"', b"\xff\xfe"):
        response = deliver(client, signed(raw))
        assert response.status_code == 400, f"body {raw!r}: {unexpected(response, 400)}"
    assert queue.count == 0, f"{queue.count} jobs were queued for bodies that are not JSON"


NOT_EVENTS = [
    ("no id", {"type": "payment.succeeded"}, ["body", "id"]),
    ("an id with a path in it", event("../x"), ["body", "id"]),
    ("an id of 101 characters", event("e" * 101), ["body", "id"]),
    ("an empty id", event(""), ["body", "id"]),
    ("an id that is a number", {**event(), "id": 42}, ["body", "id"]),
    ("no type", {"id": "evt_1"}, ["body", "type"]),
    ("a list", [event()], ["body"]),
    ("a string", "evt_1", ["body"]),
]


@pytest.mark.parametrize(("case", "body", "loc"), NOT_EVENTS, ids=[c[0] for c in NOT_EVENTS])
def test_a_signed_body_that_is_not_an_event_is_422_naming_the_field(client, queue, case, body, loc):
    """A signed JSON body that is not an event is answered 422 naming the field, never 500."""
    response = deliver(client, signed(json.dumps(body).encode()))
    assert response.status_code == 422, f"{case}: {unexpected(response, 422)}"
    locs = [problem.get("loc") for problem in response.json()["detail"]]
    assert loc in locs, f"{case}: the 422 names {locs}, not {loc}"
    assert queue.count == 0, f"{queue.count} jobs were queued for {case}"


def test_the_webhook_secret_setting_is_the_key(client, queue, monkeypatch):
    """With WEBHOOK_SECRET set, it is the key: an event signed with the dev default is refused."""
    mine = "whsec_" + secrets.token_hex(16)
    monkeypatch.setenv("WEBHOOK_SECRET", mine)
    get_settings.cache_clear()
    refused = deliver(client, signed(event("evt_dev"), secret=DEV_WEBHOOK_SECRET))
    assert refused.status_code == 400, (
        f"an event signed with the public default secret: {unexpected(refused, 400)}"
    )
    accepted = deliver(client, signed(event("evt_mine"), secret=mine))
    assert accepted.status_code == 202, f"signed with WEBHOOK_SECRET: {unexpected(accepted, 202)}"
    assert queue.job_ids == ["evt_mine"], f"the queue holds {queue.job_ids}"


def test_the_openapi_schema_documents_what_the_endpoint_answers(client, queue):
    """/openapi.json documents the Signature header, the event body and the 200/202/400/422 answers.

    Each of those answers comes from the endpoint, with the documented shape."""
    operation = client.get("/openapi.json").json()["paths"][PATH]["post"]
    headers = [p["name"] for p in operation.get("parameters", []) if p.get("in") == "header"]
    assert "Signature" in headers, f"the header parameters documented are {headers}"
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert {"id", "type", "data"} <= set(schema.get("properties", {})), f"the body: {schema}"
    assert {"id", "type"} <= set(schema.get("required", [])), f"the body requires {schema}"
    documented = set(operation["responses"])
    assert {"200", "202", "400", "422"} <= documented, f"the answers documented: {documented}"
    answers = [
        deliver(client, signed(event("evt_doc"))),
        deliver(client, signed(event("evt_doc"))),
        deliver(client, {"content": b"{}"}),
        deliver(client, signed({"id": "evt_doc"})),
    ]
    assert [a.status_code for a in answers] == [202, 200, 400, 422], (
        f"the answers were {[(a.status_code, a.text[:100]) for a in answers]}"
    )
    for answer in answers[:2]:
        assert set(answer.json()) == {"message", "job_id"}, f"the answer {answer.json()}"


# --- end to end: uvicorn and a worker ------------------------------------------------------


@pytest.mark.e2e
def test_events_are_answered_at_once_while_their_jobs_take_longer(impl, webhooks, queue):
    """A real API answers 20 signed events 202, each faster than the PROCESSING_SECONDS a job takes.

    A real worker runs the first one's job: it takes PROCESSING_SECONDS and returns
    "Recorded payment.succeeded <id>"."""
    processing, times, answers = webhooks.PROCESSING_SECONDS, [], []
    # --simple: the job runs in the worker's process, so kill() stops it too (a Worker's
    # work horse is in a process group of its own, and would outlive the test).
    with start_api(package=impl) as api, start_worker("--simple", package=impl) as worker:
        with httpx.Client(base_url=api.url, timeout=10) as http:
            for i in range(20):
                request = signed(event(f"evt_{i:02d}"))
                start = time.perf_counter()
                answers.append(http.post(PATH, **request))
                times.append(time.perf_counter() - start)
                if i == 0:  # what its job was doing when the answer came
                    status = queue.fetch_job("evt_00").get_status().value
        refused = [a for a in answers if a.status_code != 202]
        assert not refused, f"{len(refused)} of 20 events: {unexpected(refused[0], 202, api)}"
        job_ids = [a.json()["job_id"] for a in answers]
        assert job_ids == [f"evt_{i:02d}" for i in range(20)], f"the job ids were {job_ids}"
        first = queue.fetch_job("evt_00")
        ended = wait_for_status(first, timeout=10)
        first.refresh()
        said = last_line(worker.output())
        worker.kill()  # the first job is all the test needs
    p50, slowest = statistics.median(times), max(times)
    print(f"answer times over 20 events: p50 {p50 * 1000:.1f} ms, max {slowest * 1000:.1f} ms")
    assert slowest < processing, (
        f"the slowest answer took {slowest:.3f} s (p50 {p50:.3f} s), not less than a job's"
        f" {processing} s: queue the job and answer, do not run it"
    )
    assert status in ("queued", "started"), f"the first answer came once its job was {status}"
    assert ended == "finished", f"the first job ended {job_outcome(first)}; the worker: {said}"
    took = (first.ended_at - first.started_at).total_seconds()
    assert took >= processing, f"the job took {took:.3f} s, less than {processing} s"
    assert took > slowest, f"the job took {took:.3f} s, less than an answer ({slowest:.3f} s)"
    assert first.return_value() == "Recorded payment.succeeded evt_00", (
        f"the job returned {first.return_value()!r}"
    )


@pytest.mark.e2e
def test_twenty_deliveries_at_once_give_one_202_and_one_job_run(impl, queue):
    """20 deliveries of one event at once: one 202, 19 x 200, one job_id, and the job runs once."""
    request = signed(event("evt_once"))
    barrier = threading.Barrier(20)
    answers: list[httpx.Response] = []
    with start_api(package=impl) as api:
        with httpx.Client(base_url=api.url, timeout=10) as http:

            def post() -> None:
                barrier.wait()
                answers.append(http.post(PATH, **request))

            threads = [threading.Thread(target=post) for _ in range(20)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(15)
        statuses = sorted(a.status_code for a in answers)
        first = next((a for a in answers if a.status_code != 200), answers[0])
        assert statuses == [200] * 19 + [202], (
            f"the 20 answers were {statuses}: one 202 and 19 x 200 expected"
            f" ({unexpected(first, 200, api)})"
        )
    job_ids = {a.json()["job_id"] for a in answers}
    assert job_ids == {"evt_once"}, f"the answers give the job ids {job_ids}, not only evt_once"
    entries = queue.connection.lrange(queue.key, 0, -1)
    assert entries == [b"evt_once"], f"the queue holds {entries}, not the one job"
    with start_worker("--burst", package=impl) as worker:
        code = worker.wait(30)
        output = worker.output()
    assert code == 0, f"the worker exited {code}: {last_line(output)}"
    runs = output.count(JOB_OK.format("evt_once"))
    assert runs == 1, f"the worker ran the job {runs} times:\n{output[-2000:]}"
    finished = FinishedJobRegistry(queue=queue).get_job_ids()
    assert finished == ["evt_once"], f"the finished jobs are {finished}"
    job = queue.fetch_job("evt_once")
    assert job.return_value() == "Recorded payment.succeeded evt_once", job_outcome(job)


def test_a_signed_event_with_redis_down_is_503_saying_what_to_do(api_client, closed_port):
    """With Redis down, a correctly signed event gets 503 JSON (the provider delivers it again)."""
    down = api_client(f"redis://127.0.0.1:{closed_port}/0")
    response = deliver(down, signed(event("evt_down")))
    assert response.status_code == 503, unexpected(response, 503)
    assert "python -m lab redis start" in response.json()["detail"], response.text[:300]

"""Step 08e - YOUR FILE (lab/webhooks.py): a payment provider's webhook, signed, answered at
once, and processed once however often it is delivered.

The provider POSTs each event to /webhooks/payments with a header

    Signature: t=<unix seconds>,v1=<hex HMAC-SHA256, keyed with the secret, of "<t>.<body>">

and delivers it again (the same event id) until it gets a 2xx in time. So the receiver
checks the signature, queues the processing with the event's id as the job id, and
answers 202 in milliseconds; a repeat of an event finds its job and gets 200.

You write signature(), verify_signature() and queue_payment(); the endpoint, the task and
sign_event() (what the provider does, for the notebook and the tests) are provided.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from fastapi.responses import JSONResponse
from rq import Queue
from rq.exceptions import DuplicateJobError

from lab.support.api import PAYMENT_ROUTE, EmailQueue, read_event
from lab.support.config import get_settings

#: The oldest signature accepted, in seconds: a replay captured later is refused.
TOLERANCE = 300
#: Seconds the fake processing of a payment takes (a call to the accounting system, say).
PROCESSING_SECONDS = 0.5

router = APIRouter()


class BadSignature(ValueError):
    """The Signature header is missing, malformed, stale or does not match the body."""


def process_payment(event: dict[str, Any], seconds: float = PROCESSING_SECONDS) -> str:
    """The job (fake): record the payment of `event` in the accounts."""
    time.sleep(seconds)
    return f"Recorded {event.get('type')} {event['id']}"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of b"<timestamp>." + body, keyed with `secret` (UTF-8)."""
    # BEGIN SOLUTION: the HMAC of the message, as lowercase hex
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    # END SOLUTION


def verify_signature(
    secret: str, header: str | None, body: bytes, now: float, tolerance: int = TOLERANCE
) -> int:
    """The timestamp of `header` ("t=...,v1=..."), once checked; BadSignature, saying why,
    when the header is missing or malformed, its t is more than `tolerance` seconds from
    `now`, or no v1 in it equals signature(secret, t, body) (compared in constant time)."""
    # BEGIN SOLUTION: read t and every v1; refuse what is missing, malformed, stale or wrong
    if not header:
        raise BadSignature("no Signature header")
    pairs = [part.strip().partition("=") for part in header.split(",")]
    stamps = [value for key, _, value in pairs if key == "t"]
    given = [value for key, _, value in pairs if key == "v1"]
    if len(stamps) != 1 or not (stamps[0].isascii() and stamps[0].isdigit()) or not given:
        raise BadSignature("the Signature header is not t=<unix seconds>,v1=<hex>")
    timestamp = int(stamps[0])
    age = int(now) - timestamp  # whole numbers: a t of 400 digits is no float
    if age > tolerance:
        raise BadSignature(f"its timestamp is more than {tolerance} s old")
    if age < -tolerance:
        raise BadSignature(f"its timestamp is more than {tolerance} s ahead (check the clocks)")
    expected = signature(secret, timestamp, body).encode()
    if not any(hmac.compare_digest(expected, value.encode()) for value in given):
        raise BadSignature("the signature does not match the body")
    return timestamp
    # END SOLUTION


def queue_payment(queue: Queue, event: dict[str, Any]) -> tuple[str, bool]:
    """Queue process_payment(event) once per event, however often the provider sends it:
    the job's id is the event's id, and its result is kept IDEMPOTENCY_TTL seconds (the
    settings' idempotency_ttl). Returns (job id, True) for a new event; (job id, False) for
    one received before, queuing nothing - decided by Redis in one step, so that two
    deliveries of one event at the same moment cannot both queue it."""
    # BEGIN SOLUTION: one job per event id, a repeat refused by Redis, not by a check before
    ttl = get_settings().idempotency_ttl
    try:
        job = queue.enqueue(process_payment, event, job_id=event["id"], unique=True, result_ttl=ttl)
    except DuplicateJobError:
        return event["id"], False
    return job.id, True
    # END SOLUTION


def sign_event(
    event: dict[str, Any], secret: str | None = None, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    """What the provider sends: the event's JSON body, and its headers with the signature."""
    body = json.dumps(event).encode()
    secret = get_settings().webhook_secret if secret is None else secret
    stamp = int(time.time()) if timestamp is None else timestamp
    header = f"t={stamp},v1={signature(secret, stamp, body)}"
    return body, {"Signature": header, "Content-Type": "application/json"}


async def raw_body(request: Request) -> bytes:
    """The request's body as sent: the signature is over these bytes, not over parsed JSON."""
    return await request.body()


@router.post("/webhooks/payments", status_code=202, **PAYMENT_ROUTE)
def receive_payment(
    raw: Annotated[bytes, Depends(raw_body)],
    queue: EmailQueue,
    signature_header: Annotated[
        str | None,
        Header(
            alias="Signature",
            max_length=1000,
            description="t=<unix seconds>,v1=<hex HMAC-SHA256>",
        ),
    ] = None,
) -> Any:
    """A payment event: 202 and its job at once; 200 and the same job for a repeat."""
    secret = get_settings().webhook_secret
    try:
        verify_signature(secret, signature_header, raw, time.time())
    except BadSignature as exc:
        raise HTTPException(400, f"Signature refused: {exc}.") from None
    event = read_event(raw)  # 400 if not JSON, 422 if not an event
    job_id, new = queue_payment(queue, event.model_dump())
    if new:
        return {"message": f"Event {event.id} accepted.", "job_id": job_id}
    answer = {"message": f"Event {event.id} was received before.", "job_id": job_id}
    return JSONResponse(status_code=200, content=answer)

"""PROVIDED: the Idempotency-Key header, as ASGI middleware around the producer (step 06).

A POST that carries `Idempotency-Key: <key>` runs once: the middleware asks `claim` (your
claim_key) whether the key is new; if so the request goes through and `remember` (your
remember_answer) stores its answer, else the stored answer is sent again with
`Idempotent-Replayed: true`. It is plain ASGI rather than `@app.middleware("http")` so that
requests without the header cost nothing extra, and it calls Redis in the thread pool,
because a blocking call in async code stalls every other request (notebook 04).

A claim whose answer was never stored (Redis went away between the endpoint and `remember`)
expires after IDEMPOTENCY_CLAIM_TTL seconds (claim_key sets it so), and until then a repeat
is answered 409 with Retry-After. A repeat after that runs the endpoint again, but the job
it queues has the id the first one had (derived from the key and the request: the app's
queue is an ApiQueue, lab/support/queueing/api_queue.py), so it finds that job and answers
with it: one key, one job, however long Redis was away. To keep a short outage from
leaving even that window, `remember` is tried again, with backoff, after the answer was
sent, for up to half the claim TTL since the claim (while the claim is surely still this
request's); that holds the request's task, not a thread, and only when Redis fails. Every
endpoint behind this answers in milliseconds, or in a few REDIS_TIMEOUTs when Redis is
silent, far less than the claim TTL; a request slower than that (its claim may have
expired and a repeat run again) is logged in one line.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lab.support.config import get_settings
from lab.support.queueing.api_queue import keyed_request

HEADER = "Idempotency-Key"
#: Seconds a client is asked to wait (Retry-After) before it repeats a request whose key is
#: still claimed: the first request is most likely answered by then.
RETRY_AFTER = 1
#: Seconds between two attempts to store an answer while Redis fails (then the last, again).
REMEMBER_PAUSES = (0.1, 0.2, 0.5, 1.0, 2.0)
log = logging.getLogger(__name__)

Claim = Callable[[Redis, str, str], "dict | None"]
Remember = Callable[[Redis, str, str, int, "str | None"], None]
OnRedisError = Callable[[Request, RedisError], Awaitable[Response]]
OnNotWritten = Callable[[Request, NotImplementedError], Awaitable[Response]]


class IdempotencyMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        claim: Claim,
        remember: Remember,
        connection: Callable[[], Redis],
        on_redis_error: OnRedisError,
        on_not_written: OnNotWritten,
    ) -> None:
        self.app = app
        self.claim, self.remember = claim, remember
        self.connection = connection
        self.on_redis_error = on_redis_error
        self.on_not_written = on_not_written

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = Headers(scope=scope).get(HEADER) if scope["type"] == "http" else None
        if key is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        if not 1 <= len(key) <= 255 or not key.isprintable():
            await problem(422, f"{HEADER} must be 1 to 255 printable characters.")(
                scope, receive, send
            )
            return
        body = await request.body()
        fingerprint = f"{scope['path']} {hashlib.sha256(body).hexdigest()}"
        claimed = time.monotonic()
        try:
            connection = self.connection()
            earlier = await run_in_threadpool(self.claim, connection, key, fingerprint)
        except RedisError as exc:
            await (await self.on_redis_error(request, exc))(scope, receive, send)
            return
        except NotImplementedError as exc:  # claim_key() not written yet
            await (await self.on_not_written(request, exc))(scope, receive, send)
            return
        if earlier is not None:
            await replay(earlier, fingerprint)(scope, receive, send)
            return
        await self.run_once(scope, body, receive, send, connection, key, fingerprint, claimed)

    async def run_once(
        self,
        scope: Scope,
        body: bytes,
        receive: Receive,
        send: Send,
        connection: Redis,
        key: str,
        fingerprint: str,
        claimed: float,
    ) -> None:
        """Pass the request on (its body read already), keeping a copy of the answer; then
        store the answer if it is a success, or forget the key so the client can retry."""
        sent_body = False
        answer: dict[str, Any] = {"status": 500, "chunks": [], "sent": False}

        async def receive_again() -> Message:
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        async def send_and_keep(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
            elif message["type"] == "http.response.body":
                answer["chunks"].append(message.get("body", b""))
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                answer["sent"] = True

        try:
            with keyed_request(key, fingerprint):  # its jobs' ids derive from the key
                await self.app(scope, receive_again, send_and_keep)
        finally:  # also when the endpoint raised (a 500): then the key is forgotten
            status = answer["status"]
            stored = b"".join(answer["chunks"]).decode() if 200 <= status < 300 else None
            args = (connection, key, fingerprint, status, stored)
            await self.store(args, claimed, patient=answer["sent"])

    async def store(self, args: tuple, claimed: float, patient: bool) -> None:
        """Call `remember(*args)`. If Redis fails and the answer was sent already (`patient`),
        try again after REMEMBER_PAUSES until half the claim's TTL has passed since the claim;
        else once (an exception on its way to a 500 is not held up). A request slower than
        the claim's TTL, or an answer never stored, is logged in one line."""
        ttl = get_settings().idempotency_claim_ttl
        took = time.monotonic() - claimed
        if took > ttl:
            log.warning(
                "An %s request took %.1f s, more than IDEMPOTENCY_CLAIM_TTL=%d s: a repeat"
                " sent meanwhile may have run it a second time.",
                HEADER,
                took,
                ttl,
            )
        deadline = claimed + ttl / 2
        for attempt, pause in enumerate(
            itertools.chain(REMEMBER_PAUSES, itertools.repeat(REMEMBER_PAUSES[-1])), 1
        ):
            try:
                await run_in_threadpool(self.remember, *args)
                return
            except NotImplementedError:  # remember_answer() not written: the answer is sent;
                return  # a repeat meets "still being handled" until the claim expires
            except RedisError as exc:
                if not patient or time.monotonic() + pause >= deadline:
                    log.warning(
                        "The answer to an %s request could not be stored (%d attempts, %s);"
                        " its key is free again within IDEMPOTENCY_CLAIM_TTL=%d s.",
                        HEADER,
                        attempt,
                        type(exc).__name__,
                        ttl,
                    )
                    return
            await asyncio.sleep(pause)


def replay(earlier: dict, fingerprint: str) -> Response:
    """The answer to a repeated key: the stored one, or why there is none."""
    if earlier.get("fingerprint") != fingerprint:
        return problem(422, f"This {HEADER} was used for a different request; use a new key.")
    if "body" not in earlier:
        ttl = get_settings().idempotency_claim_ttl
        answer = problem(
            409,
            f"A request with this {HEADER} is still being handled; try again in"
            f" {RETRY_AFTER} s. If its answer was lost, the key is free again at most"
            f" IDEMPOTENCY_CLAIM_TTL={ttl} s after it was claimed.",
        )
        answer.headers["Retry-After"] = str(RETRY_AFTER)
        return answer
    return Response(
        earlier["body"],
        earlier["status"],
        {"Idempotent-Replayed": "true"},
        media_type="application/json",
    )


def problem(status: int, detail: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"detail": detail})

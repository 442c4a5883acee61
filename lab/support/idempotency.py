"""PROVIDED: the Idempotency-Key header, as ASGI middleware around the producer (step 06).

A POST that carries `Idempotency-Key: <key>` runs once: the middleware asks `claim` (your
claim_key) whether the key is new; if so the request goes through and `remember` (your
remember_answer) stores its answer, else the stored answer is sent again with
`Idempotent-Replayed: true`. It is plain ASGI rather than `@app.middleware("http")` so that
requests without the header cost nothing extra, and it calls Redis in the thread pool,
because a blocking call in async code stalls every other request (notebook 04).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "Idempotency-Key"

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
        await self.run_once(scope, body, receive, send, connection, key, fingerprint)

    async def run_once(
        self,
        scope: Scope,
        body: bytes,
        receive: Receive,
        send: Send,
        connection: Redis,
        key: str,
        fingerprint: str,
    ) -> None:
        """Pass the request on (its body read already), keeping a copy of the answer; then
        store the answer if it is a success, or forget the key so the client can retry."""
        sent_body = False
        answer: dict[str, Any] = {"status": 500, "chunks": []}

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

        try:
            await self.app(scope, receive_again, send_and_keep)
        finally:  # also when the endpoint raised (a 500): then the key is forgotten
            status = answer["status"]
            stored = b"".join(answer["chunks"]).decode() if 200 <= status < 300 else None
            try:
                await run_in_threadpool(self.remember, connection, key, fingerprint, status, stored)
            except (RedisError, NotImplementedError):  # Redis down, or remember_answer()
                pass  # not written: the answer is sent; a repeat meets "still being handled"


def replay(earlier: dict, fingerprint: str) -> Response:
    """The answer to a repeated key: the stored one, or why there is none."""
    if earlier.get("fingerprint") != fingerprint:
        return problem(422, f"This {HEADER} was used for a different request; use a new key.")
    if "body" not in earlier:
        return problem(409, f"A request with this {HEADER} is still being handled; try again.")
    return Response(
        earlier["body"],
        earlier["status"],
        {"Idempotent-Replayed": "true"},
        media_type="application/json",
    )


def problem(status: int, detail: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"detail": detail})

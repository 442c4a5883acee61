"""PROVIDED: a limit on the size of request bodies, as ASGI middleware around the API.

A body larger than MAX_BODY_BYTES (64 KiB by default; read at each request) is answered
`413 Content Too Large` without being read into memory: at once when its Content-Length
header says it is too large, else as soon as the chunks read so far add up to more than the
limit (a body sent in chunks, without Content-Length). Nothing the API accepts comes near
the limit: a newsletter of 1,000 addresses is about 30 KB.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lab.support.config import get_settings


class BodyTooLarge(HTTPException):
    """Raised while reading a body that went past the limit. An HTTPException, so that
    FastAPI answers it as it is, 413, if it is raised inside an endpoint's body parsing."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large(limit))


def too_large(limit: int) -> str:
    return f"The request body is larger than {limit} bytes (MAX_BODY_BYTES), the most it may be."


class BodyLimitMiddleware:
    """Bodies of at most `max_body_bytes`, or else of MAX_BODY_BYTES as it is at the request."""

    def __init__(self, app: ASGIApp, max_body_bytes: int | None = None) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes or get_settings().max_body_bytes
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await self.refuse(scope, receive, send, limit)
            return
        seen = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLarge:
            if started:  # too late to answer 413; the connection is closed
                raise
            await self.refuse(scope, receive, send, limit)

    async def refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        """Answer 413 and close the connection: the rest of the body is never read."""
        answer = JSONResponse({"detail": too_large(limit)}, 413, {"Connection": "close"})
        await answer(scope, receive, send)

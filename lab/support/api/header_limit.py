"""PROVIDED: a limit on request headers, as ASGI middleware around the API.

Requests whose headers add up to more than MAX_HEADER_BYTES (16 KiB by default; names and
values, read at each request) or that have more than MAX_HEADERS (100) of them are answered
`431 Request Header Fields Too Large`, JSON that names the limit, before anything else of
the API sees them: not the Idempotency-Key middleware, the dashboard or an endpoint. A
browser sends about 20 headers and 1-2 KB; the API's own fit in a few hundred bytes.

What the server limits already depends on its HTTP parser. uvicorn uses httptools when it
is installed (uvicorn[standard], as here), and httptools has no limit: a 1 MB header, or
10,000 headers, reached the app (and got 202). With `--http h11`, h11 refuses a head that
grows past its max_incomplete_event_size (16 KiB; uvicorn's
`--h11-max-incomplete-event-size`) with a plain-text 400 "Invalid HTTP request received."
(a 1 MB header) or a reset connection (10,000 headers); but it checks only a head it has
not yet seen the end of, so a 17-KB head that arrives in one read passes, and it has no
limit on the count of headers. Either way the server has read the whole head into memory
before this middleware runs: it keeps the app from work on such requests and says why in
JSON; capping what the server reads is for h11's option or a proxy in front (nginx:
large_client_header_buffers).
"""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from lab.support.config import get_settings

MAX_HEADERS = 100
"""The most request headers the API takes (a browser sends about 20)."""


def header_problem(
    headers: list[tuple[bytes, bytes]], max_bytes: int, max_count: int
) -> str | None:
    """Why `headers` (ASGI's: (name, value) pairs) go past the limits, or None."""
    if len(headers) > max_count:
        return f"The request has {len(headers)} headers, more than {max_count}, the most allowed."
    size = sum(len(name) + len(value) for name, value in headers)
    if size > max_bytes:
        return (
            f"The request headers add up to {size} bytes, more than {max_bytes}"
            " (MAX_HEADER_BYTES), the most they may be."
        )
    return None


class HeaderLimitMiddleware:
    """Headers of at most `max_header_bytes` (else MAX_HEADER_BYTES as it is at the
    request) in all, and at most `max_headers` of them."""

    def __init__(
        self, app: ASGIApp, max_header_bytes: int | None = None, max_headers: int = MAX_HEADERS
    ) -> None:
        self.app = app
        self.max_header_bytes = max_header_bytes
        self.max_headers = max_headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_header_bytes or get_settings().max_header_bytes
        problem = header_problem(scope["headers"], limit, self.max_headers)
        if problem is None:
            await self.app(scope, receive, send)
            return
        # The body is not read: the connection is closed after the answer.
        answer = JSONResponse({"detail": problem}, 431, {"Connection": "close"})
        await answer(scope, receive, send)

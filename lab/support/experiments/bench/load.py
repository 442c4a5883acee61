"""PROVIDED: the bench's load generator: `drive()` runs concurrent senders (httpx
requests, or Redis PINGs) on one asyncio event loop and times each request; `burst()`
sends N requests at once from a notebook."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from lab.support.experiments.harness import EMAIL

if TYPE_CHECKING:
    import httpx

T = TypeVar("T")


@dataclass
class Request:
    """One request the bench sent, timed with time.perf_counter(); `status` 0: no answer."""

    start: float
    end: float
    status: int
    body: dict = field(default_factory=dict)


Send = Callable[[], Awaitable[tuple[int, dict]]]
"""Sends one request; returns its status and its JSON body (a dict, else {})."""


async def drive(sends: Sequence[Send], count: int) -> tuple[list[Request], float]:
    """`count` requests from `len(sends)` concurrent senders, each sending its next request
    as soon as it has an answer; returns them (by start) and the share of one CPU this
    process used meanwhile."""
    import httpx
    from redis.exceptions import RedisError

    requests: list[Request] = []
    left = iter(range(count))

    async def sender(send: Send) -> None:
        for _ in left:
            start = time.perf_counter()
            try:
                status, body = await send()
            except (httpx.HTTPError, RedisError):
                status, body = 0, {}
            requests.append(Request(start, time.perf_counter(), status, body))

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(sender(send) for send in sends))
    busy = (time.process_time() - cpu) / max(time.perf_counter() - wall, 1e-9)
    return sorted(requests, key=lambda r: r.start), busy


@contextlib.asynccontextmanager
async def http_clients(
    url: str, count: int, timeout: float
) -> AsyncIterator[list[httpx.AsyncClient]]:
    """`count` httpx clients of one connection each, one per concurrent sender: one client
    shared by many costs more CPU per request the more connections its pool holds
    (encode/httpx#3215; at 50 it halved the requests per second here). They share one SSL
    context, unused over http, that each would otherwise build (about 20 ms each)."""
    import httpx

    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    tls = ssl.create_default_context()
    clients = [
        httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout, verify=tls)
        for _ in range(count)
    ]
    try:
        yield clients
    finally:
        await asyncio.gather(*(client.aclose() for client in clients))


def http_sender(client: httpx.AsyncClient, path: str, delay: float, method: str = "POST") -> Send:
    """POST {"email": EMAIL, "delay": delay} to `path` (GET: no body)."""
    payload = {"email": EMAIL, "delay": delay}

    async def send() -> tuple[int, dict]:
        sent = client.get(path) if method == "GET" else client.post(path, json=payload)
        response = await sent
        try:
            body = response.json()
        except ValueError:
            body = None
        return response.status_code, body if isinstance(body, dict) else {}

    return send


def burst(url: str, path: str, count: int, delay: float = 0, method: str = "POST") -> list[Request]:
    """Send `count` requests to `url + path` all at once; return them once all answered
    (times are time.perf_counter() seconds). A notebook can call it like any function."""

    async def run() -> list[Request]:
        async with http_clients(url, count, timeout=count * delay + 30) as clients:
            sends = [http_sender(client, path, delay, method) for client in clients]
            return (await drive(sends, count))[0]

    return run_in_thread(run)


def run_in_thread(coroutine_function: Callable[[], Awaitable[T]]) -> T:
    """asyncio.run(coroutine_function()) in a thread of its own (a notebook's kernel
    already runs an event loop in its main thread); its exception is raised here."""
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(lambda: asyncio.run(coroutine_function())).result()  # type: ignore[arg-type]


def server_threads() -> int:
    """The thread pool FastAPI runs `def` endpoints and BackgroundTasks' plain functions in:
    AnyIO's default limiter, 40 unless changed (read in a fresh event loop: each has its
    own; uvicorn's process has the same default)."""

    async def read() -> int:
        import anyio.to_thread

        return int(anyio.to_thread.current_default_thread_limiter().total_tokens)

    return run_in_thread(read)

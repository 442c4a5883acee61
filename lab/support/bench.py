"""PROVIDED: `python -m lab bench` - the strategies of step 04, measured side by side.

It starts `uvicorn <package>.strategies:app` (one process) and `workers` RQ workers
(`python -m <package>.worker bench-emails --simple`), then drives load from this process
(httpx, asyncio), one concurrency level after another, strategy after strategy. A cell
(one strategy at one concurrency) waits until every email it triggered is done before
the next cell starts, so that cells do not disturb each other.

- A blocking strategy gets one burst of `concurrency` requests at once: its email runs
  inside the request, so the last answer is also the last email done.
- background and rq-enqueue get `requests` requests (at least `concurrency`) from
  `concurrency` clients that each send the next request as soon as they have an answer.
  Their emails are done when the last background email noted its end in Redis
  (`send_and_record`), or when the last RQ job ended (its `ended_at`).
- The floors, `redis-ping` (PING from this process) and `noop` (POST /noop), get
  `floor_requests` requests. The no-op's best rate is the client's ceiling: a rate near
  it, or a client that was busy all the time, says more about this load generator than
  about the server, and the figure is marked client-bound.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import heapq
import importlib
import json
import math
import ssl
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from .background import Api, Background, start_api
from .config import get_settings, safe_url

if TYPE_CHECKING:  # imported where used, so that `python -m lab --help` needs no packages
    import httpx
    from tqdm import tqdm

DESCRIPTION = __doc__.split("\n", 2)[2]  # this docstring without its first line
QUEUE = "bench-emails"
EMAIL = "bench@example.com"
#: A cell is client-bound when the load generator was busy this share of the time...
CLIENT_BUSY = 0.85
#: ...or when its rate reached this share of the no-op's best rate (the client's ceiling).
NEAR_CEILING = 0.8

MODEL = (
    "model: each email takes exactly the delay and starts once it is asked for (blocking:"
    " request sent; background, rq-enqueue: answer received) and a slot is free - 1 for"
    " async-blocking (the event loop), the thread pool for def-blocking and background,"
    " the workers for rq-enqueue"
)

FIELDS = {
    "strategy": "redis-ping, noop, rq-enqueue, background, def-blocking or async-blocking",
    "concurrency": "requests in flight at once",
    "requests": "requests sent in this cell",
    "errors": "requests that failed or did not answer 2xx",
    "p50_ms p95_ms p99_ms max_ms": "latency percentiles of the answers, in milliseconds",
    "rps": "requests answered per second, from the first sent to the last answered",
    "done_s": "seconds from the first request until every email of the cell was done"
    " (null for the floors)",
    "model_done_s": "done_s as the model predicts it (see below; null for the floors)",
    "client_cpu": "share of one CPU that this load generator used during the cell",
    "client_bound": "true when rps or the tail latency shows the client's limit, not the"
    f" server's (client_cpu >= {CLIENT_BUSY}, or rps >= {NEAR_CEILING} x the no-op's best)",
    "delay_s workers worker_class threads package": "the run's email delay, RQ workers and"
    " their class, the server's thread pool size, and whose code ran (lab or solutions)",
    "timeline": "[start_s, end_s] of each request, from the cell's first request",
}


class BenchError(Exception):
    """The bench cannot run; the message says why and what to do."""

    def __init__(self, message: str, unwritten: bool = False):
        super().__init__(message)
        self.unwritten = unwritten
        """The reason is a TODO not written yet (NotImplementedError)."""


@dataclass(frozen=True)
class Settings:
    delay: float = 0.5
    concurrency: tuple[int, ...] = (1, 10, 50)
    requests: int = 40
    floor_requests: int = 300
    workers: int = 4
    package: str = "lab"


DEFAULT = Settings()
QUICK = Settings(delay=0.2, concurrency=(1, 5, 20), requests=20, floor_requests=100)


@dataclass(frozen=True)
class Strategy:
    name: str
    path: str
    blocking: bool = False
    """The email runs inside the request: one burst of `concurrency` requests."""
    floor: bool = False
    id_field: str = ""
    """The field of the answer that names the email's task or job."""


#: In the order they are measured and shown: the floors first, then from the quickest
#: answer to the slowest, so that the queue's cell follows the no-op's closely in time.
STRATEGIES = (
    Strategy("redis-ping", "", floor=True),
    Strategy("noop", "/noop", floor=True),
    Strategy("rq-enqueue", "/queued/emails", id_field="job_id"),
    Strategy("background", "/background", id_field="task_id"),
    Strategy("def-blocking", "/blocking/def", blocking=True),
    Strategy("async-blocking", "/blocking/async", blocking=True),
)


@dataclass
class Request:
    start: float
    end: float
    status: int
    """HTTP status, 0 when no answer came."""
    body: dict = field(default_factory=dict)


@dataclass
class Row:
    strategy: str
    concurrency: int
    requests: int
    errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    rps: float
    done_s: float | None
    model_done_s: float | None
    client_cpu: float
    client_bound: bool
    delay_s: float
    workers: int
    worker_class: str
    threads: int
    package: str
    timeline: list[list[float]]


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) of `values`, interpolating between ranks."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def run_on_slots(arrivals: Sequence[float], slots: int, delay: float) -> float:
    """When the last of jobs arriving at `arrivals` ends, if each takes `delay` on the
    first of `slots` free slots, first come first served."""
    free = [0.0] * slots
    for arrival in sorted(arrivals):
        heapq.heappush(free, max(arrival, heapq.heappop(free)) + delay)
    return max(free)


# --- load --------------------------------------------------------------------------------

Send = Callable[[], Awaitable[tuple[int, dict]]]


async def drive(sends: Sequence[Send], count: int) -> tuple[list[Request], float]:
    """`count` requests from `len(sends)` concurrent senders, each sending its next
    request as soon as it has an answer.

    Returns the requests (perf_counter times, by start) and the share of one CPU this
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
    """`count` httpx clients of one connection each, one per concurrent sender.

    One client shared by many senders costs this process more CPU per request the more
    connections its pool holds (encode/httpx#3215): at 50 it halved the requests per
    second here. The clients share one SSL context, unused over http, that each would
    otherwise build (about 20 ms each)."""
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
        if method == "GET":
            response = await client.get(path)
        else:
            response = await client.post(path, json=payload)
        try:
            body = response.json()
        except ValueError:
            body = None
        return response.status_code, body if isinstance(body, dict) else {}

    return send


def burst(url: str, path: str, count: int, delay: float = 0, method: str = "POST") -> list[Request]:
    """Send `count` requests to `url + path` all at once; return them once all answered
    (times are time.perf_counter() seconds).

    It runs its own event loop in a thread, so a notebook can call it like any function."""

    async def run() -> list[Request]:
        async with http_clients(url, count, timeout=count * delay + 30) as clients:
            sends = [http_sender(client, path, delay, method) for client in clients]
            return (await drive(sends, count))[0]

    return run_in_thread(run)


def run_in_thread(coroutine_function: Callable[[], Awaitable]) -> object:
    """asyncio.run(coroutine_function()) in a thread of its own (a notebook's kernel
    already runs an event loop in its main thread)."""
    box: dict = {}

    def target() -> None:
        try:
            box["result"] = asyncio.run(coroutine_function())
        except BaseException as exc:  # re-raised in the caller's thread below
            box["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["result"]


# --- one run -----------------------------------------------------------------------------


class Bench:
    """The server, the workers and the measurements of one run."""

    def __init__(self, settings: Settings):
        from redis import Redis

        self.settings = settings
        self.redis = Redis.from_url(get_settings().redis_url, socket_timeout=5)
        module = f"{settings.package}.strategies"
        try:
            self.done_prefix: str = importlib.import_module(module).DONE_PREFIX
        except Exception as exc:  # the learner's file may not import: say so in one line
            raise BenchError(f"cannot import {module}: {type(exc).__name__}: {exc}") from None
        self.api: Api | None = None
        self.workers: list[Background] = []
        self.threads = 40  # read from anyio in measure(), the same default as the server's
        self.worker_class = "SimpleWorker"

    def start(self) -> None:
        package, env = self.settings.package, {"QUEUE_NAME": QUEUE}
        self.queue().empty()
        command = [sys.executable, "-m", f"{package}.worker", QUEUE, "--simple"]
        self.workers = [Background("bench-worker", command) for _ in range(self.settings.workers)]
        try:
            self.api = start_api(package, module="strategies", env=env)
        except (RuntimeError, TimeoutError) as exc:
            said = last_line(str(exc))
            raise BenchError(f"uvicorn {package}.strategies:app did not start: {said}") from None
        for worker in self.workers:
            try:
                worker.wait_for_output("listening on", timeout=30)
            except (RuntimeError, TimeoutError) as exc:
                said = last_line(worker.output()) or str(exc)
                raise BenchError(
                    f"python -m {package}.worker did not start: {said}",
                    unwritten="not written yet" in said,
                ) from None

    def stop(self) -> None:
        from redis.exceptions import RedisError

        for process in [self.api, *self.workers]:
            if process is not None:
                process.__exit__()
        try:
            self.queue().empty()
        except RedisError:
            pass

    def queue(self):
        from rq import Queue

        return Queue(QUEUE, connection=self.redis)

    def preflight(self) -> None:
        """One request to each endpoint, its email done: a TODO not written yet, or a
        wrong answer, stops the bench here with one line."""
        import httpx

        assert self.api is not None
        with httpx.Client(base_url=self.api.url, timeout=10) as client:
            for strategy in STRATEGIES:
                if not strategy.path:
                    continue
                response = client.post(strategy.path, json={"email": EMAIL, "delay": 0})
                if not response.is_success:
                    said, unwritten = self.why()
                    status = response.status_code
                    raise BenchError(f"POST {strategy.path} answered {status}: {said}", unwritten)
                body = response.json()
                if strategy.id_field and strategy.id_field not in body:
                    raise BenchError(
                        f"POST {strategy.path} answered without a {strategy.id_field!r}:"
                        f" {response.text[:200]}"
                    )
                self.wait_done(strategy, [Request(0, 0, response.status_code, body)], 0, 10)

    def why(self) -> tuple[str, bool]:
        """What the server logged about a request that failed (just after answering it),
        and whether it was a TODO not written yet."""
        assert self.api is not None
        deadline = time.monotonic() + 3
        log = self.api.output()
        while "NotImplementedError" not in log and time.monotonic() < deadline:
            time.sleep(0.1)
            before, log = log, self.api.output()
            if "Traceback" in log and log == before:
                break  # the traceback is complete
        if "NotImplementedError" in log:
            return (
                f"a TODO in {self.settings.package}/ is not written yet (NotImplementedError);"
                " `python -m lab check` shows which",
                True,
            )
        return last_line(log), False

    async def measure(self, bar: tqdm) -> list[Row]:
        """Every cell, shown on the progress bar `bar`."""
        import anyio.to_thread

        self.threads = anyio.to_thread.current_default_thread_limiter().total_tokens
        assert self.api is not None
        rows: list[Row] = []
        for concurrency in self.settings.concurrency:
            timeout = concurrency * self.settings.delay + 30
            async with http_clients(self.api.url, concurrency, timeout) as clients:
                # Open the connections first, so that no cell pays for them.
                await drive([http_sender(c, "/noop", 0) for c in clients], 2 * concurrency)
                for strategy in STRATEGIES:
                    bar.set_description(f"{strategy.name} at concurrency {concurrency}")
                    rows.append(await self.cell(strategy, concurrency, clients))
                    bar.update()
        return self.mark_client_bound(rows)

    async def cell(
        self, strategy: Strategy, concurrency: int, clients: list[httpx.AsyncClient]
    ) -> Row:
        s = self.settings
        if strategy.floor:
            count = max(s.floor_requests, concurrency)
        elif strategy.blocking:
            count = concurrency
        else:
            count = max(s.requests, concurrency)
        ping = None
        if strategy.name == "redis-ping":
            from redis.asyncio import Redis as AsyncRedis

            ping = AsyncRedis.from_url(get_settings().redis_url, max_connections=concurrency)
            await asyncio.gather(*(ping.ping() for _ in range(concurrency)))  # connect first

            async def send() -> tuple[int, dict]:
                await ping.ping()
                return 200, {}

            sends = [send] * concurrency
        else:
            sends = [http_sender(client, strategy.path, s.delay) for client in clients]
        offset = time.time() - time.perf_counter()  # perf_counter -> time.time()
        requests, busy = await drive(sends, count)
        if ping is not None:
            await ping.aclose()
        done = await asyncio.to_thread(self.wait_done, strategy, requests, offset)
        latencies = [(r.end - r.start) * 1000 for r in requests]
        first = requests[0].start
        return Row(
            strategy=strategy.name,
            concurrency=concurrency,
            requests=count,
            errors=sum(1 for r in requests if not 200 <= r.status < 300),
            p50_ms=round(percentile(latencies, 50), 3),
            p95_ms=round(percentile(latencies, 95), 3),
            p99_ms=round(percentile(latencies, 99), 3),
            max_ms=round(max(latencies), 3),
            rps=round(count / (max(r.end for r in requests) - first), 1),
            done_s=None if strategy.floor else round(done - first, 4),
            model_done_s=self.model(strategy, requests),
            client_cpu=round(busy, 2),
            client_bound=False,
            delay_s=s.delay,
            workers=s.workers,
            worker_class=self.worker_class,
            threads=self.threads,
            package=s.package,
            timeline=[[round(r.start - first, 4), round(r.end - first, 4)] for r in requests],
        )

    def wait_done(
        self, strategy: Strategy, requests: list[Request], offset: float, timeout: float = 60
    ) -> float:
        """Wait until every email `requests` triggered is done; return when the last one
        was, as a perf_counter time (`offset` = time.time() - time.perf_counter()).

        Gives up `timeout` seconds after the emails should have been done."""
        last_answer = max(r.end for r in requests)
        if not strategy.id_field:
            return last_answer  # no email, or it ran inside the request
        ids = [r.body[strategy.id_field] for r in requests if strategy.id_field in r.body]
        check = self.background_ends if strategy.name == "background" else self.job_ends
        deadline = time.monotonic() + len(ids) * self.settings.delay + timeout
        while (ends := check(ids)) is None:
            if time.monotonic() > deadline:
                raise BenchError(
                    f"the emails of POST {strategy.path} were not done {timeout:.0f} s after"
                    + (
                        " they should have been: does send_in_background() add"
                        " send_and_record to background_tasks?"
                        if strategy.name == "background"
                        else " they should have been: are the workers taking the jobs?"
                    )
                )
            time.sleep(0.02)
        return max([last_answer, *(end - offset for end in ends)])

    def background_ends(self, ids: list[str]) -> list[float] | None:
        """The time.time() each background email noted, or None while one is missing."""
        keys = [f"{self.done_prefix}{task_id}" for task_id in ids]
        values = self.redis.mget(keys) if keys else []
        if any(value is None for value in values):
            return None
        if keys:
            self.redis.delete(*keys)
        return [float(value) for value in values]

    def job_ends(self, ids: list[str]) -> list[float] | None:
        """Each RQ job's ended_at (time.time()), or None while one is not finished."""
        from rq.job import Job, JobStatus

        jobs = Job.fetch_many(ids, connection=self.redis)
        # The status as fetched with the rest of the job (is_finished would read it again).
        statuses = [job.get_status(refresh=False) if job else None for job in jobs]
        for job, status in zip(jobs, statuses, strict=True):
            if status == JobStatus.FAILED:
                result = job.latest_result()
                said = last_line(result.exc_string or "") if result else ""
                raise BenchError(f"an RQ job of the bench failed: {said or job.id}")
        if any(status != JobStatus.FINISHED for status in statuses):
            return None
        ends = [job.ended_at.timestamp() for job in jobs]
        for job in jobs:
            job.delete()
        return ends

    def model(self, strategy: Strategy, requests: list[Request]) -> float | None:
        """done_s if each email took exactly the delay (see MODEL)."""
        if strategy.floor:
            return None
        slots = {"async-blocking": 1, "rq-enqueue": self.settings.workers}.get(
            strategy.name, self.threads
        )
        first = requests[0].start
        asked = [(r.start if strategy.blocking else r.end) - first for r in requests]
        return round(run_on_slots(asked, slots, self.settings.delay), 4)

    @staticmethod
    def mark_client_bound(rows: list[Row]) -> list[Row]:
        ceiling = max(r.rps for r in rows if r.strategy == "noop")
        for row in rows:
            row.client_bound = row.client_cpu >= CLIENT_BUSY or (
                row.strategy != "noop" and row.rps >= NEAR_CEILING * ceiling
            )
        return rows


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def check_redis() -> None:
    from redis import Redis
    from redis.exceptions import RedisError

    url = get_settings().redis_url
    client = Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    except RedisError as exc:
        raise BenchError(
            f"Cannot reach Redis at {safe_url(url)} ({type(exc).__name__}: {exc}). "
            "Start it with `python -m lab redis start`, or set REDIS_URL."
        ) from None
    finally:
        client.close()


def run(settings: Settings, progress: bool | None = None, fallback: bool = False) -> list[Row]:
    """Start the server and workers, measure every cell, stop them; return the rows.

    `progress`: show a progress bar (None: only on a terminal). `fallback`: when a TODO of
    settings.package is not written yet, say so and measure solutions/ instead."""
    try:
        return run_once(settings, progress)
    except BenchError as exc:
        if not (fallback and exc.unwritten and settings.package != "solutions"):
            raise
        print(
            f"bench: {str(exc).rstrip('.')}. Measuring the reference solutions/ instead"
            f" (--package {settings.package} measures only yours).",
            file=sys.stderr,
        )
        return run_once(replace(settings, package="solutions"), progress)


def run_once(settings: Settings, progress: bool | None) -> list[Row]:
    from redis.exceptions import RedisError
    from tqdm import tqdm

    check_redis()
    bench = Bench(settings)
    cells = len(settings.concurrency) * len(STRATEGIES)
    disable = None if progress is None else not progress
    with tqdm(total=cells + 1, unit="cell", disable=disable, file=sys.stderr) as bar:
        bar.set_description("starting server and workers")
        try:
            bench.start()
            bench.preflight()
            bar.update()
            return asyncio.run(bench.measure(bar))
        except RedisError as exc:
            raise BenchError(f"Redis stopped answering ({type(exc).__name__}: {exc}).") from None
        finally:
            bench.stop()


# --- report ------------------------------------------------------------------------------


def number(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 1000:
        return f"{value:.0f}"
    if value >= 100:
        return f"{value:.1f}"
    return f"{value:.2f}"


def table(rows: list[Row]) -> str:
    """The rows as the text table `python -m lab bench` prints."""
    noop = max((r for r in rows if r.strategy == "noop"), key=lambda r: r.rps)
    first = rows[0]
    lines = [
        f"{first.package}.strategies in one uvicorn process ({first.threads} threads),"
        f" {first.workers} x {first.worker_class} (python -m {first.package}.worker --simple),"
        f" email delay {first.delay_s:g} s",
        f"client ceiling: {noop.rps:.0f} req/s (POST /noop at concurrency {noop.concurrency});"
        " * = client-bound",
        "",
        f"{'strategy':<15}{'conc':>5}{'reqs':>6}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}"
        f"{'max ms':>10}{'req/s':>10}{'done s':>9}{'model s':>9}",
    ]
    previous = None
    for r in rows:
        if previous is not None and r.concurrency != previous:
            lines.append("")
        previous = r.concurrency
        mark = "*" if r.client_bound else " "
        lines.append(
            f"{r.strategy:<15}{r.concurrency:>5}{r.requests:>6}{number(r.p50_ms):>10}"
            f"{number(r.p95_ms) + mark:>11}{number(r.p99_ms) + mark:>10}"
            f"{number(r.max_ms) + mark:>10}{number(r.rps) + mark:>10}"
            f"{number(r.done_s):>8}{number(r.model_done_s):>9}"
        )
        if r.errors:
            lines[-1] += f"  ({r.errors} errors)"
    lines += [
        "",
        f"* client-bound: this load generator used >= {CLIENT_BUSY:.0%} of a CPU, or reached"
        f" >= {NEAR_CEILING:.0%} of its ceiling; the server may do better.",
        f"{MODEL}.",
    ]
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smaller settings (delay {QUICK.delay:g} s, concurrency"
        f" {' '.join(map(str, QUICK.concurrency))}, {QUICK.requests} requests, ~15 s)",
    )
    parser.add_argument(
        "--delay", type=float, help=f"seconds per email (default {DEFAULT.delay:g})"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        nargs="+",
        metavar="N",
        help=f"concurrency levels (default {' '.join(map(str, DEFAULT.concurrency))})",
    )
    parser.add_argument(
        "--requests",
        type=int,
        help=f"requests per background / rq-enqueue cell, at least the concurrency"
        f" (default {DEFAULT.requests})",
    )
    parser.add_argument(
        "--floor-requests",
        type=int,
        help=f"requests per floor cell (default {DEFAULT.floor_requests})",
    )
    parser.add_argument("--workers", type=int, help=f"RQ workers (default {DEFAULT.workers})")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the rows as JSON")
    parser.add_argument(
        "--package",
        choices=["lab", "solutions"],
        help="whose strategies.py, producer.py and worker.py to run (default: your lab/,"
        " or solutions/ with a note while a TODO the bench needs is not written yet)",
    )


def epilog() -> str:
    import textwrap

    fields = [
        textwrap.fill(
            text,
            88,
            break_on_hyphens=False,
            initial_indent=f"  {name:<16}",
            subsequent_indent=" " * 18,
        )
        if len(name) < 16
        else f"  {name}\n"
        + textwrap.fill(
            text, 88, break_on_hyphens=False, initial_indent=" " * 18, subsequent_indent=" " * 18
        )
        for name, text in FIELDS.items()
    ]
    return "\n".join(
        [
            "--json PATH writes a list with one object per strategy and concurrency:",
            *fields,
            "",
            textwrap.fill(f"{MODEL}.", 88),
        ]
    )


def settings_from(args: argparse.Namespace) -> Settings:
    base = QUICK if args.quick else DEFAULT
    chosen = {
        "delay": args.delay,
        "concurrency": tuple(args.concurrency) if args.concurrency else None,
        "requests": args.requests,
        "floor_requests": args.floor_requests,
        "workers": args.workers,
    }
    settings = replace(
        base, package=args.package or "lab", **{k: v for k, v in chosen.items() if v is not None}
    )
    if settings.delay < 0 or min(settings.concurrency) < 1 or settings.workers < 1:
        raise BenchError("--delay must be >= 0; --concurrency and --workers >= 1.")
    if settings.requests < 1 or settings.floor_requests < 1:
        raise BenchError("--requests and --floor-requests must be >= 1.")
    return settings


def main(args: argparse.Namespace) -> int:
    try:
        settings = settings_from(args)
        started = time.perf_counter()
        rows = run(settings, fallback=args.package is None)
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    print(table(rows))
    print(f"\n{len(rows)} cells in {time.perf_counter() - started:.0f} s.")
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0

"""PROVIDED: the bench's strategies and floors, its settings, and its model (MODEL).

A strategy says how many requests a cell sends (`count()`), who sends them (`senders()`),
when its emails are asked for (`asked()`) and done (`done_at()`), and where they run
(`slots`). A new one is one more entry in STRATEGIES (and its name in FIELDS and MODEL).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lab.support.config import get_settings
from lab.support.experiments.bench.load import Request, Send, http_sender
from lab.support.experiments.harness import BenchError
from lab.support.servers.processes import last_line, poll

if TYPE_CHECKING:
    import httpx
    from redis import Redis

QUEUE = "bench-emails"  # the bench workers' queue: not one a notebook or a test fills
MODEL = (
    "model: each email takes exactly the delay and starts once it is asked for (blocking:"
    " request sent; background, rq-enqueue: answer received) and a slot is free - 1 for"
    " async-blocking (the event loop), the thread pool for def-blocking and background,"
    " the workers for rq-enqueue"
)


@dataclass(frozen=True)
class BenchSettings:
    """One run of `python -m lab bench`, as its flags chose it (not named `Settings`: that
    is lab.support.config's, read from the environment)."""

    delay: float = 0.5  # seconds per email
    concurrency: tuple[int, ...] = (1, 10, 50)  # measured one after another
    requests: int = 40  # per background / rq-enqueue cell (at least the concurrency)
    floor_requests: int = 300  # per floor cell (at least the concurrency)
    workers: int = 4  # RQ workers started for the run
    package: str = "lab"  # whose strategies.py, producer.py and worker.py run


DEFAULT = BenchSettings()
QUICK = BenchSettings(delay=0.2, concurrency=(1, 5, 20), requests=20, floor_requests=100)


@dataclass(frozen=True)
class Slots:
    """Where a strategy's emails run, so how many at once: the server's event loop (an
    `async def` endpoint), its thread pool (`def` endpoints and BackgroundTasks' plain
    functions) or the RQ workers (one job each, --simple)."""

    where: str

    def count(self, workers: int, threads: int) -> int:
        return {"event loop": 1, "thread pool": threads, "workers": workers}[self.where]


EVENT_LOOP, THREAD_POOL, WORKERS = Slots("event loop"), Slots("thread pool"), Slots("workers")


def run_on_slots(arrivals: Sequence[float], slots: int, delay: float) -> float:
    """When the last of jobs arriving at `arrivals` ends, if each takes `delay` on the
    first of `slots` free slots, first come first served."""
    free = [0.0] * slots
    for arrival in sorted(arrivals):
        heapq.heappush(free, max(arrival, heapq.heappop(free)) + delay)
    return max(free)


@dataclass(frozen=True)
class Records:
    """Where emails sent after the answer note their end: RQ jobs' `ended_at`, and the keys
    DONE_PREFIX + task id of the measured strategies module's `send_and_record`."""

    redis: Redis
    done_prefix: str


@dataclass(frozen=True)
class Strategy:
    """Requests POST to `path` ("" for none), one client each; emails done once answered.
    `slots`: None for a floor (no email); `id_field`: the answer's field naming the email's
    task or job; `ceiling`: its best rate is the load generator's (the no-op)."""

    name: str
    path: str = ""
    slots: Slots | None = None
    id_field: str = ""
    ceiling: bool = False

    @property
    def emails(self) -> bool:
        return self.slots is not None

    def count(self, settings: BenchSettings, concurrency: int) -> int:
        """Requests per cell: `requests`, at least one per client."""
        return max(settings.requests, concurrency)

    @contextlib.asynccontextmanager
    async def senders(
        self, clients: Sequence[httpx.AsyncClient], delay: float
    ) -> AsyncIterator[list[Send]]:
        yield [http_sender(client, self.path, delay) for client in clients]

    def asked(self, request: Request) -> float:
        """When the email of `request` was asked for: once answered."""
        return request.end

    def done_at(self, requests: Sequence[Request], records: Records, delay: float,
                offset: float, timeout: float = 60) -> float:  # fmt: skip
        """When the last email of `requests` was done, as a perf_counter time (`offset` =
        time.time() - time.perf_counter()): here, at the last answer."""
        return max(r.end for r in requests)


@dataclass(frozen=True)
class Blocking(Strategy):
    """The email runs inside the request: one burst of `concurrency` requests."""

    def count(self, settings: BenchSettings, concurrency: int) -> int:
        return concurrency

    def asked(self, request: Request) -> float:
        return request.start


@dataclass(frozen=True)
class Floor(Strategy):
    """The server's (or Redis's) cost with no email: `floor_requests` requests."""

    def count(self, settings: BenchSettings, concurrency: int) -> int:
        return max(settings.floor_requests, concurrency)


@dataclass(frozen=True)
class RedisPing(Floor):
    """A PING from this process, one connection per client: the floor under an enqueue."""

    @contextlib.asynccontextmanager
    async def senders(
        self, clients: Sequence[httpx.AsyncClient], delay: float
    ) -> AsyncIterator[list[Send]]:
        from redis.asyncio import Redis as AsyncRedis

        ping = AsyncRedis.from_url(get_settings().redis_url, max_connections=len(clients))
        try:
            await asyncio.gather(*(ping.ping() for _ in clients))  # connect first

            async def send() -> tuple[int, dict]:
                await ping.ping()
                return 200, {}

            yield [send] * len(clients)
        finally:
            await ping.aclose()


@dataclass(frozen=True)
class AfterAnswer(Strategy):
    """The endpoint answers first, naming the email (`id_field`), whose end is noted where
    this process can read it (`ends()`). `hint`: what to check when it never ends."""

    hint: str = ""

    def ends(self, records: Records, ids: list[str]) -> list[float] | None:
        """The time.time() each email of `ids` ended, or None while one is not done."""
        raise NotImplementedError

    def done_at(self, requests: Sequence[Request], records: Records, delay: float,
                offset: float, timeout: float = 60) -> float:  # fmt: skip
        ids = [r.body[self.id_field] for r in requests if self.id_field in r.body]
        what = f"the emails of POST {self.path} ({self.hint})"
        read = lambda: self.ends(records, ids)  # noqa: E731
        ends = poll(read, lambda e: e is not None, what, len(ids) * delay + timeout)[-1]
        return max([max(r.end for r in requests), *(end - offset for end in ends)])


@dataclass(frozen=True)
class InBackground(AfterAnswer):
    """BackgroundTasks offers no way to ask: `send_and_record` notes each email's end in
    Redis under DONE_PREFIX + task id."""

    def ends(self, records: Records, ids: list[str]) -> list[float] | None:
        keys = [f"{records.done_prefix}{task_id}" for task_id in ids]
        values = records.redis.mget(keys) if keys else []
        if any(value is None for value in values):
            return None
        if keys:
            records.redis.delete(*keys)
        return [float(value) for value in values]


@dataclass(frozen=True)
class Enqueued(AfterAnswer):
    """An RQ job: done at its `ended_at`; a failed job stops the bench."""

    def ends(self, records: Records, ids: list[str]) -> list[float] | None:
        from rq.job import Job, JobStatus

        from lab.support.queueing.serializer import rq_serializer

        jobs = Job.fetch_many(ids, connection=records.redis, serializer=rq_serializer())
        statuses = [job.get_status(refresh=False) if job else None for job in jobs]
        for job, status in zip(jobs, statuses, strict=True):
            if status == JobStatus.FAILED:
                result = job.latest_result()
                said = last_line(result.exc_string or "") if result else ""
                raise BenchError(f"an RQ job of the bench failed: {said or job.id}")
        if any(status != JobStatus.FINISHED for status in statuses):
            return None
        for job in jobs:
            job.delete()
        return [job.ended_at.timestamp() for job in jobs]


#: In the order they are measured and shown: the floors first, then from the quickest
#: answer to the slowest, so that the queue's cell follows the no-op's closely in time.
STRATEGIES: tuple[Strategy, ...] = (
    RedisPing("redis-ping"),
    Floor("noop", "/noop", ceiling=True),
    Enqueued("rq-enqueue", "/queued/emails", WORKERS, id_field="job_id",
             hint="are the workers taking the jobs?"),
    InBackground("background", "/background", THREAD_POOL, id_field="task_id",
                 hint="does send_in_background() add send_and_record to background_tasks?"),
    Blocking("def-blocking", "/blocking/def", THREAD_POOL),
    Blocking("async-blocking", "/blocking/async", EVENT_LOOP),
)  # fmt: skip


def model_done_s(
    strategy: Strategy, requests: Sequence[Request], delay: float, workers: int, threads: int
) -> float | None:
    """done_s as the model predicts it for these requests (None for a floor: no email)."""
    if strategy.slots is None:
        return None
    asked = [strategy.asked(r) - requests[0].start for r in requests]
    return round(run_on_slots(asked, strategy.slots.count(workers, threads), delay), 4)

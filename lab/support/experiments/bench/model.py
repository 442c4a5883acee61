"""PROVIDED: the bench's model of when a cell's emails are done, shown beside `done s`.

Each email takes exactly the delay and starts once it is asked for and one of its
strategy's slots is free. A strategy says when its email is asked for (`asked()`) and
where it runs (its `slots`, one of the three kinds below); `model_done_s()` plays the
cell's requests through them.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lab.support.experiments.bench.load import Request
    from lab.support.experiments.bench.strategies import Strategy

MODEL = (
    "model: each email takes exactly the delay and starts once it is asked for (blocking:"
    " request sent; background, rq-enqueue: answer received) and a slot is free - 1 for"
    " async-blocking (the event loop), the thread pool for def-blocking and background,"
    " the workers for rq-enqueue"
)


class Slots:
    """Where a strategy's emails run, and so how many can run at once."""

    def count(self, workers: int, threads: int) -> int:
        """The slots, for `workers` RQ workers and a server thread pool of `threads`."""
        raise NotImplementedError


class EventLoop(Slots):
    """An `async def` endpoint runs on the server's one event loop: one email at a time."""

    def count(self, workers: int, threads: int) -> int:
        return 1


class ThreadPool(Slots):
    """FastAPI runs `def` endpoints and BackgroundTasks' plain functions in the thread pool."""

    def count(self, workers: int, threads: int) -> int:
        return threads


class Workers(Slots):
    """Each RQ worker (--simple) runs one job at a time."""

    def count(self, workers: int, threads: int) -> int:
        return workers


EVENT_LOOP, THREAD_POOL, WORKERS = EventLoop(), ThreadPool(), Workers()


def run_on_slots(arrivals: Sequence[float], slots: int, delay: float) -> float:
    """When the last of jobs arriving at `arrivals` ends, if each takes `delay` on the
    first of `slots` free slots, first come first served."""
    free = [0.0] * slots
    for arrival in sorted(arrivals):
        heapq.heappush(free, max(arrival, heapq.heappop(free)) + delay)
    return max(free)


def model_done_s(
    strategy: Strategy, requests: Sequence[Request], delay: float, workers: int, threads: int
) -> float | None:
    """done_s as the model predicts it for these requests (None for a floor: no email)."""
    if strategy.slots is None:
        return None
    first = requests[0].start
    asked = [strategy.asked(r) - first for r in requests]
    return round(run_on_slots(asked, strategy.slots.count(workers, threads), delay), 4)

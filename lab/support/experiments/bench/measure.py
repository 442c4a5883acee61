"""PROVIDED: one bench run - every strategy at every concurrency, one cell at a time.

`run()` checks Redis, starts the processes, runs the preflight, then measures the cells
with a progress bar (tqdm, on stderr), and stops the processes whatever happens. A cell
waits until every email it triggered is done before the next cell starts, so that cells
do not disturb each other.
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import replace
from typing import TYPE_CHECKING

from lab.support.experiments.bench.load import drive, http_clients, http_sender, server_threads
from lab.support.experiments.bench.model import model_done_s
from lab.support.experiments.bench.processes import Processes, check_redis
from lab.support.experiments.bench.report import Cell, Row, mark_client_bound, percentile
from lab.support.experiments.bench.settings import BenchError, BenchSettings, with_fallback
from lab.support.experiments.bench.strategies import STRATEGIES, Strategy

if TYPE_CHECKING:
    import httpx
    from tqdm import tqdm


def run(
    settings: BenchSettings, progress: bool | None = None, fallback: bool = False
) -> list[Cell]:
    """Start the server and workers, measure every cell, stop them; return the cells.

    `progress`: show a progress bar (None: only on a terminal). `fallback`: when a TODO of
    settings.package is not written yet, say so and measure solutions/ instead."""
    return with_fallback(
        lambda package: run_once(replace(settings, package=package), progress),
        settings.package,
        fallback,
    )


def run_once(settings: BenchSettings, progress: bool | None) -> list[Cell]:
    from redis.exceptions import RedisError
    from tqdm import tqdm

    check_redis()
    processes = Processes(settings)
    threads = server_threads()
    cells = len(settings.concurrency) * len(STRATEGIES)
    disable = None if progress is None else not progress
    with tqdm(total=cells + 1, unit="cell", disable=disable, file=sys.stderr) as bar:
        bar.set_description("starting server and workers")
        try:
            processes.start()
            processes.preflight()
            bar.update()
            return asyncio.run(measure(processes, threads, bar))
        except RedisError as exc:
            raise BenchError(f"Redis stopped answering ({type(exc).__name__}: {exc}).") from None
        finally:
            processes.stop()


async def measure(processes: Processes, threads: int, bar: tqdm) -> list[Cell]:
    """Every cell, shown on the progress bar `bar`; `threads`: the server's thread pool."""
    settings, api = processes.settings, processes.api
    assert api is not None
    cells: list[Cell] = []
    for concurrency in settings.concurrency:
        timeout = concurrency * settings.delay + 30
        async with http_clients(api.url, concurrency, timeout) as clients:
            # Open the connections first, so that no cell pays for them.
            await drive([http_sender(c, "/noop", 0) for c in clients], 2 * concurrency)
            for strategy in STRATEGIES:
                bar.set_description(f"{strategy.name} at concurrency {concurrency}")
                cells.append(await cell(processes, threads, strategy, clients))
                bar.update()
    mark_client_bound(cells)
    return cells


async def cell(
    processes: Processes, threads: int, strategy: Strategy, clients: list[httpx.AsyncClient]
) -> Cell:
    """`strategy` driven by one sender per client, until its emails are done."""
    s, concurrency = processes.settings, len(clients)
    count = strategy.count(s, concurrency)
    async with strategy.senders(clients, s.delay) as sends:
        offset = time.time() - time.perf_counter()  # perf_counter -> time.time()
        requests, busy = await drive(sends, count)
    done = await asyncio.to_thread(strategy.done_at, requests, processes.records, s.delay, offset)
    latencies = [(r.end - r.start) * 1000 for r in requests]
    first = requests[0].start
    row = Row(
        strategy=strategy.name,
        concurrency=concurrency,
        requests=count,
        errors=sum(1 for r in requests if not 200 <= r.status < 300),
        p50_ms=round(percentile(latencies, 50), 3),
        p95_ms=round(percentile(latencies, 95), 3),
        p99_ms=round(percentile(latencies, 99), 3),
        max_ms=round(max(latencies), 3),
        rps=round(count / (max(r.end for r in requests) - first), 1),
        done_s=round(done - first, 4) if strategy.emails else None,
        model_done_s=model_done_s(strategy, requests, s.delay, s.workers, threads),
        client_cpu=round(busy, 2),
        client_bound=False,
        delay_s=s.delay,
        workers=s.workers,
        worker_class=processes.worker_class,
        threads=threads,
        package=s.package,
        timeline=[[round(r.start - first, 4), round(r.end - first, 4)] for r in requests],
    )
    return Cell(strategy, row)

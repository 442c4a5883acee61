"""PROVIDED: one `python -m lab bench` run - every strategy at every concurrency.

`run()` checks Redis, starts `uvicorn <package>.strategies:app` and the workers
(`python -m <package>.worker bench-emails --simple`), tries each endpoint once (a TODO
not written yet stops it here, in one line), then measures the cells with a progress bar
and stops the processes whatever happens. A cell waits until every email it triggered is
done before the next cell starts, so that cells do not disturb each other.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
import time
from typing import TYPE_CHECKING

from lab.support.config import get_settings
from lab.support.experiments.bench.load import (
    Request,
    drive,
    http_clients,
    http_sender,
    server_threads,
)
from lab.support.experiments.bench.report import Cell, mark_client_bound, percentile
from lab.support.experiments.bench.strategies import (
    QUEUE,
    STRATEGIES,
    BenchSettings,
    Records,
    Strategy,
    model_done_s,
)
from lab.support.experiments.harness import (
    EMAIL,
    BenchError,
    answered,
    bench_queue,
    check_redis,
    progress_bar,
    reset,
    started,
)
from lab.support.servers.processes import Api, Background, last_line, start_api

if TYPE_CHECKING:
    import httpx
    from tqdm import tqdm

WORKER_CLASS = "SimpleWorker"
"""The workers' class: --simple runs each job in the worker's own process."""


def run(settings: BenchSettings, progress: bool | None = None) -> list[Cell]:
    """Start the server and workers, measure every cell, stop them; return the cells.
    `progress`: show a progress bar (None: only on a terminal)."""
    from redis import Redis
    from redis.exceptions import RedisError

    check_redis()
    package = settings.package
    redis = Redis.from_url(get_settings().redis_url, socket_timeout=5)
    try:
        done_prefix = importlib.import_module(f"{package}.strategies").DONE_PREFIX
    except Exception as exc:  # the learner's file may not import: say so in one line
        said = f"{type(exc).__name__}: {exc}"
        raise BenchError(f"cannot import {package}.strategies: {said}") from None
    records, threads = Records(redis, done_prefix), server_threads()
    queue = bench_queue(QUEUE, redis)
    processes: list[Background] = []
    with progress_bar(len(settings.concurrency) * len(STRATEGIES) + 1, "cell", progress) as bar:
        bar.set_description("starting server and workers")
        try:
            reset(queue)
            command = [sys.executable, "-m", f"{package}.worker", QUEUE, "--simple"]
            processes += [Background("bench-worker", command) for _ in range(settings.workers)]
            env = {"QUEUE_NAME": QUEUE}
            api = started(lambda: start_api(package, module="strategies", env=env),
                          f"uvicorn {package}.strategies:app")  # fmt: skip
            processes.append(api)
            for worker in processes[:-1]:
                started(lambda w=worker: w.wait_for_output("listening on", timeout=30),
                        f"python -m {package}.worker")  # fmt: skip
            preflight(api, records)
            bar.update()
            return asyncio.run(measure(settings, api, records, threads, bar))
        finally:
            for process in processes:
                process.__exit__()
            try:
                reset(queue)
            except RedisError:
                pass


def preflight(api: Api, records: Records) -> None:
    """One request to each endpoint, its email done: a TODO not written yet, or a wrong
    answer, stops the bench here with one line."""
    import httpx

    with httpx.Client(base_url=api.url, timeout=10) as client:
        for strategy in STRATEGIES:
            if not strategy.path:
                continue  # no endpoint: the PING floor (check_redis() pinged already)
            response = client.post(strategy.path, json={"email": EMAIL, "delay": 0})
            if response.status_code != 501 and not response.is_success:
                # The server logs why just after it answered.
                said = last_line(api.settled_output())
                raise BenchError(f"POST {strategy.path} answered {response.status_code}: {said}")
            body = answered(response, "; `python -m lab check` shows what else is left").json()
            if strategy.id_field and strategy.id_field not in body:
                raise BenchError(
                    f"POST {strategy.path} answered without a {strategy.id_field!r}:"
                    f" {response.text[:200]}"
                )
            request = Request(0, 0, response.status_code, body)
            strategy.done_at([request], records, 0, 0, timeout=10)


async def measure(
    settings: BenchSettings, api: Api, records: Records, threads: int, bar: tqdm
) -> list[Cell]:
    """Every cell, shown on the progress bar `bar`; `threads`: the server's thread pool."""
    cells: list[Cell] = []
    for concurrency in settings.concurrency:
        timeout = concurrency * settings.delay + 30
        async with http_clients(api.url, concurrency, timeout) as clients:
            # Open the connections first, so that no cell pays for them.
            await drive([http_sender(c, "/noop", 0) for c in clients], 2 * concurrency)
            for strategy in STRATEGIES:
                bar.set_description(f"{strategy.name} at concurrency {concurrency}")
                cells.append(await cell(settings, records, threads, strategy, clients))
                bar.update()
    mark_client_bound(cells)
    return cells


async def cell(
    s: BenchSettings, records: Records, threads: int, strategy: Strategy,
    clients: list[httpx.AsyncClient],
) -> Cell:  # fmt: skip
    """`strategy` driven by one sender per client, until its emails are done."""
    concurrency = len(clients)
    count = strategy.count(s, concurrency)
    async with strategy.senders(clients, s.delay) as sends:
        offset = time.time() - time.perf_counter()  # perf_counter -> time.time()
        requests, busy = await drive(sends, count)
    done = await asyncio.to_thread(strategy.done_at, requests, records, s.delay, offset)
    latencies = [(r.end - r.start) * 1000 for r in requests]
    first = requests[0].start
    return Cell(strategy, {
        "strategy": strategy.name,
        "concurrency": concurrency,
        "requests": count,
        "errors": sum(1 for r in requests if not 200 <= r.status < 300),
        "p50_ms": round(percentile(latencies, 50), 3),
        "p95_ms": round(percentile(latencies, 95), 3),
        "p99_ms": round(percentile(latencies, 99), 3),
        "max_ms": round(max(latencies), 3),
        "rps": round(count / (max(r.end for r in requests) - first), 1),
        "done_s": round(done - first, 4) if strategy.emails else None,
        "model_done_s": model_done_s(strategy, requests, s.delay, s.workers, threads),
        "client_cpu": round(busy, 2),
        "client_bound": False,
        "delay_s": s.delay,
        "workers": s.workers,
        "worker_class": WORKER_CLASS,
        "threads": threads,
        "package": s.package,
        "timeline": [[round(r.start - first, 4), round(r.end - first, 4)] for r in requests],
    })  # fmt: skip

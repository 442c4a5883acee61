"""PROVIDED: one `python -m lab bench` run (cli.py says what it does): `run()` starts the
server and the workers, tries each endpoint once (a TODO not written yet stops it here, in
one line), measures the cells with a progress bar, and stops everything whatever happens."""

from __future__ import annotations

import asyncio
import importlib
import sys
import time

import httpx
from redis import Redis
from redis.exceptions import RedisError
from tqdm import tqdm

from lab.support.config import get_settings
from lab.support.experiments import harness
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
from lab.support.servers.processes import Api, Background, last_line, start_api

WORKER_CLASS = "SimpleWorker"
"""The workers' class: --simple runs each job in the worker's own process."""


def run(settings: BenchSettings, progress: bool | None = None) -> list[Cell]:
    """Every cell of `settings`; `progress`: show a progress bar (None: on a terminal)."""
    harness.check_redis()
    package = settings.package
    redis = Redis.from_url(get_settings().redis_url, socket_timeout=5)
    try:
        done_prefix = importlib.import_module(f"{package}.strategies").DONE_PREFIX
    except Exception as exc:  # the learner's file may not import: say so in one line
        said = f"{type(exc).__name__}: {exc}"
        raise harness.BenchError(f"cannot import {package}.strategies: {said}") from None
    records, threads = Records(redis, done_prefix), server_threads()
    queue, processes = harness.bench_queue(QUEUE, redis), []
    cells = len(settings.concurrency) * len(STRATEGIES)
    with harness.progress_bar(cells + 1, "cell", progress) as bar:
        bar.set_description("starting server and workers")
        try:
            harness.reset(queue)
            command = [sys.executable, "-m", f"{package}.worker", QUEUE, "--simple"]
            workers = [Background("bench-worker", command) for _ in range(settings.workers)]
            processes += workers
            env = {"QUEUE_NAME": QUEUE}
            api = harness.started(
                lambda: start_api(package, module="strategies", env=env),
                f"uvicorn {package}.strategies:app",
            )
            processes.append(api)
            for worker in workers:
                harness.started(
                    lambda w=worker: w.wait_for_output("listening on", timeout=30),
                    f"python -m {package}.worker",
                )
            preflight(api, records)
            bar.update()
            return asyncio.run(measure(settings, api, records, threads, bar))
        finally:
            for process in processes:
                process.__exit__()
            try:
                harness.reset(queue)
            except RedisError:
                pass


def preflight(api: Api, records: Records) -> None:
    """One request to each endpoint, its email done: a TODO not written yet, or a wrong
    answer, stops the bench here with one line."""
    with httpx.Client(base_url=api.url, timeout=10) as client:
        for strategy in STRATEGIES:
            if not strategy.path:
                continue  # no endpoint: the PING floor (check_redis() pinged already)
            response = client.post(strategy.path, json={"email": harness.EMAIL, "delay": 0})
            if response.status_code != 501 and not response.is_success:
                said = last_line(api.settled_output())  # the server logs why after answering
                raise harness.BenchError(
                    f"POST {strategy.path} answered {response.status_code}: {said}"
                )
            hint = "; `python -m lab check` shows what else is left"
            body = harness.answered(response, hint).json()
            if strategy.id_field and strategy.id_field not in body:
                raise harness.BenchError(
                    f"POST {strategy.path} answered without a {strategy.id_field!r}:"
                    f" {response.text[:200]}"
                )
            request = Request(0, 0, response.status_code, body)
            strategy.done_at([request], records, 0, 0, timeout=10)


async def measure(
    settings: BenchSettings, api: Api, records: Records, threads: int, bar: tqdm
) -> list[Cell]:
    """Every cell, one after another; `threads`: the server's thread pool."""
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
    s: BenchSettings,
    records: Records,
    threads: int,
    strategy: Strategy,
    clients: list[httpx.AsyncClient],
) -> Cell:
    """`strategy` driven by one sender per client, until its emails are done."""
    concurrency, count = len(clients), strategy.count(s, len(clients))
    async with strategy.senders(clients, s.delay) as sends:
        offset = time.time() - time.perf_counter()  # perf_counter -> time.time()
        requests, busy = await drive(sends, count)
    done = await asyncio.to_thread(strategy.done_at, requests, records, s.delay, offset)
    latencies = [(r.end - r.start) * 1000 for r in requests]
    first = requests[0].start
    return Cell(
        strategy,
        {
            "strategy": strategy.name,
            "concurrency": concurrency,
            "requests": count,
            "errors": sum(1 for r in requests if not 200 <= r.status < 300),
            **{f"p{q}_ms": round(percentile(latencies, q), 3) for q in (50, 95, 99)},
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
        },
    )

"""PROVIDED: `python -m lab bench` - step 04's strategies side by side.

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
import importlib
import sys
import textwrap
import time
from collections.abc import Sequence
from contextlib import ExitStack, suppress
from typing import TYPE_CHECKING, NamedTuple

from lab.support.config import get_settings
from lab.support.experiments import harness
from lab.support.experiments.bench.load import (
    Request,
    drive,
    http_clients,
    http_sender,
    server_threads,
)
from lab.support.experiments.bench.strategies import (
    DEFAULT,
    MODEL,
    QUEUE,
    QUICK,
    STRATEGIES,
    BenchSettings,
    Records,
    Strategy,
    model_done_s,
)
from lab.support.servers.processes import Api, Background, last_line, start_api

if TYPE_CHECKING:
    import httpx
    from tqdm import tqdm

WORKER_CLASS = "SimpleWorker"  # --simple: each job runs in the worker's own process
#: A cell is client-bound when the load generator was busy this share of the time...
CLIENT_BUSY = 0.85
#: ...or when its rate reached this share of the no-op's best rate (the client's ceiling).
NEAR_CEILING = 0.8

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
"""The JSON fields of a row (`--json`: one object per cell), as `--help` lists them."""
HELP = (
    "measure step 04's strategies side by side (blocking, background, queued);"
    " `bench workers`: the worker side (step 07); `bench stats`: GET /stats's cost (step 09)"
)
JSON = "--json PATH writes a list with one object per strategy and concurrency:"
EPILOG = harness.fields_help(JSON, FIELDS) + "\n\n" + textwrap.fill(f"{MODEL}.", 88)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`python -m lab bench`'s flags; each one left out keeps its default (settings_from)."""
    add = parser.add_argument
    quick = f"delay {QUICK.delay:g} s, concurrency {' '.join(map(str, QUICK.concurrency))}"
    add("--quick", action="store_true", help=f"smaller settings ({quick}, {QUICK.requests}"
        " requests, ~15 s)")  # fmt: skip
    add("--delay", type=float, help=f"seconds per email (default {DEFAULT.delay:g})")
    levels = " ".join(map(str, DEFAULT.concurrency))
    add("--concurrency", type=int, nargs="+", metavar="N",
        help=f"concurrency levels (default {levels})")  # fmt: skip
    add("--requests", type=int, help=f"requests per background / rq-enqueue cell, at least"
        f" the concurrency (default {DEFAULT.requests})")  # fmt: skip
    add("--floor-requests", type=int,
        help=f"requests per floor cell (default {DEFAULT.floor_requests})")  # fmt: skip
    add("--workers", type=int, help=f"RQ workers (default {DEFAULT.workers})")
    harness.add_common_arguments(
        parser, "strategies.py, producer.py and worker.py", "also write the rows as JSON"
    )


def checked(args: argparse.Namespace) -> BenchSettings:
    """The run's settings: --quick's or the defaults, with the flags given."""
    names = ("delay", "concurrency", "requests", "floor_requests", "workers")
    settings = harness.settings_from(args, QUICK if args.quick else DEFAULT, names)
    if settings.delay < 0 or min(settings.concurrency) < 1 or settings.workers < 1:
        raise harness.BenchError("--delay must be >= 0; --concurrency and --workers >= 1.")
    if settings.requests < 1 or settings.floor_requests < 1:
        raise harness.BenchError("--requests and --floor-requests must be >= 1.")
    return settings


def main(args: argparse.Namespace) -> int:
    try:
        settings = checked(args)
    except harness.BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    count = lambda cells: f"{len(cells)} cells"  # noqa: E731
    as_json = lambda cells: [c.row for c in cells]  # noqa: E731
    return harness.run_and_report(run, settings, args, table, count, as_json=as_json)


class Cell(NamedTuple):
    """A measured cell: its row (see FIELDS), and the strategy it measured."""

    strategy: Strategy
    row: dict


def run(settings: BenchSettings, progress: bool | None = None) -> list[Cell]:
    """Start the server and the workers, try each endpoint once (a TODO not written yet
    stops it here, in one line), measure every cell; stop everything whatever happens."""
    from redis import Redis
    from redis.exceptions import RedisError

    harness.check_redis()
    package = settings.package
    redis = Redis.from_url(get_settings().redis_url, socket_timeout=5)
    try:
        done_prefix = importlib.import_module(f"{package}.strategies").DONE_PREFIX
    except Exception as exc:  # the learner's file may not import: say so in one line
        said = f"{type(exc).__name__}: {exc}"
        raise harness.BenchError(f"cannot import {package}.strategies: {said}") from None
    records, threads = Records(redis, done_prefix), server_threads()
    queue = harness.bench_queue(QUEUE, redis)
    cells = len(settings.concurrency) * len(STRATEGIES)
    with harness.progress_bar(cells + 1, "cell", progress) as bar, ExitStack() as stack:
        bar.set_description("starting server and workers")
        harness.reset(queue)

        @stack.callback  # last, once the processes stopped
        def clean() -> None:
            with suppress(RedisError):
                harness.reset(queue)

        command = [sys.executable, "-m", f"{package}.worker", QUEUE, "--simple"]
        workers = [
            stack.enter_context(Background("bench-worker", command))
            for _ in range(settings.workers)
        ]
        start = lambda: start_api(package, module="strategies", env={"QUEUE_NAME": QUEUE})  # noqa: E731
        api = stack.enter_context(harness.started(start, f"uvicorn {package}.strategies:app"))
        for worker in workers:
            ready = lambda w=worker: w.wait_for_output("listening on", timeout=30)  # noqa: E731
            harness.started(ready, f"python -m {package}.worker")
        preflight(api, records)
        bar.update()
        return asyncio.run(measure(settings, api, records, threads, bar))


def preflight(api: Api, records: Records) -> None:
    """One request to each endpoint, its email done: a TODO not written yet, or a wrong
    answer, stops the bench here with one line."""
    import httpx

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
    best = ceiling(cells).row["rps"]
    for strategy, row in cells:
        row["client_bound"] = row["client_cpu"] >= CLIENT_BUSY or (
            not strategy.ceiling and row["rps"] >= NEAR_CEILING * best
        )
    return cells


async def cell(s: BenchSettings, records: Records, threads: int, strategy: Strategy,
               clients: list[httpx.AsyncClient]) -> Cell:  # fmt: skip
    """`strategy` driven by one sender per client, until its emails are done."""
    concurrency, count = len(clients), strategy.count(s, len(clients))
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
        **{f"p{q}_ms": round(harness.percentile(latencies, q), 3) for q in (50, 95, 99)},
        "max_ms": round(max(latencies), 3),
        "rps": round(count / (max(r.end for r in requests) - first), 1),
        "done_s": round(done - first, 4) if strategy.emails else None,
        "model_done_s": model_done_s(strategy, requests, s.delay, s.workers, threads),
        "client_cpu": round(busy, 2),
        "client_bound": False,  # set once every cell is in: measure()
        "delay_s": s.delay,
        "workers": s.workers,
        "worker_class": WORKER_CLASS,
        "threads": threads,
        "package": s.package,
        "timeline": [[round(r.start - first, 4), round(r.end - first, 4)] for r in requests],
    })  # fmt: skip


def ceiling(cells: Sequence[Cell]) -> Cell:
    """The cell of the client's ceiling: the no-op's best rate."""
    return max((c for c in cells if c.strategy.ceiling), key=lambda c: c.row["rps"])


def number(value: float | None) -> str:
    """`value` with 3 or 4 significant digits ("-" for None)."""
    if value is None:
        return "-"
    return f"{value:.0f}" if value >= 1000 else f"{value:.1f}" if value >= 100 else f"{value:.2f}"


def table(cells: Sequence[Cell]) -> str:
    """The cells as the text table `python -m lab bench` prints."""
    top, first = ceiling(cells), cells[0].row
    package = first["package"]
    lines = [
        f"{package}.strategies in one uvicorn process ({first['threads']} threads),"
        f" {first['workers']} x {first['worker_class']} (python -m {package}.worker --simple),"
        f" email delay {first['delay_s']:g} s",
        f"client ceiling: {top.row['rps']:.0f} req/s (POST {top.strategy.path} at concurrency"
        f" {top.row['concurrency']}); * = client-bound",
    ]
    previous = None
    for _, r in cells:
        if r["concurrency"] != previous:
            lines.append("")
        if previous is None:
            lines.append(
                f"{'strategy':<15}{'conc':>5}{'reqs':>6}{'p50 ms':>10}{'p95 ms':>10}"
                f"{'p99 ms':>10}{'max ms':>10}{'req/s':>10}{'done s':>9}{'model s':>9}"
            )
        previous = r["concurrency"]
        mark = "*" if r["client_bound"] else " "
        lines.append(
            f"{r['strategy']:<15}{r['concurrency']:>5}{r['requests']:>6}"
            f"{number(r['p50_ms']):>10}{number(r['p95_ms']) + mark:>11}"
            f"{number(r['p99_ms']) + mark:>10}{number(r['max_ms']) + mark:>10}"
            f"{number(r['rps']) + mark:>10}{number(r['done_s']):>8}{number(r['model_done_s']):>9}"
            + (f"  ({r['errors']} errors)" if r["errors"] else "")
        )
    lines += [
        "",
        f"* client-bound: this load generator used >= {CLIENT_BUSY:.0%} of a CPU, or reached"
        f" >= {NEAR_CEILING:.0%} of its ceiling; the server may do better.",
        f"{MODEL}.",
    ]
    return "\n".join(lines)

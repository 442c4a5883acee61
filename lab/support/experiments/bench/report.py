"""PROVIDED: the bench's results - one row per cell, its JSON fields, the text table.

A cell is one strategy at one concurrency. The report marks figures that show the load
generator's limit rather than the server's (client-bound): the generator is Python too,
on the same machine, and its best rate is the no-op's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

from lab.support.experiments.bench.strategies import MODEL, Strategy

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


class Cell(NamedTuple):
    """A measured cell: its row (see FIELDS), and the strategy it measured."""

    strategy: Strategy
    row: dict


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) of `values`, interpolating between ranks."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ceiling(cells: Sequence[Cell]) -> Cell:
    """The cell of the client's ceiling: the no-op's best rate."""
    return max((c for c in cells if c.strategy.ceiling), key=lambda c: c.row["rps"])


def mark_client_bound(cells: Sequence[Cell]) -> None:
    """Set each row's client_bound (see CLIENT_BUSY and NEAR_CEILING)."""
    best = ceiling(cells).row["rps"]
    for strategy, row in cells:
        row["client_bound"] = row["client_cpu"] >= CLIENT_BUSY or (
            not strategy.ceiling and row["rps"] >= NEAR_CEILING * best
        )


def number(value: float | None) -> str:
    """`value` with 3 or 4 significant digits ("-" for None)."""
    if value is None:
        return "-"
    if value >= 1000:
        return f"{value:.0f}"
    if value >= 100:
        return f"{value:.1f}"
    return f"{value:.2f}"


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

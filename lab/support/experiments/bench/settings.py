"""PROVIDED: the bench's settings, its names in Redis and its one error.

Every other module of the bench reads these. `BenchSettings` is not called `Settings` so
that it is never mistaken for `lab.support.config.Settings`, the workbook's settings read
from the environment (REDIS_URL among them, which the bench reads there too).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import argparse

T = TypeVar("T")
S = TypeVar("S", bound=Any)  # a dataclass of settings with a `package` field

QUEUE = "bench-emails"
"""The RQ queue of the bench's workers: not the one a notebook or a test fills."""
WORKERS_QUEUE = "bench-workers"
"""The queue of `python -m lab bench workers` (and notebook 07's measurements)."""
STATS_QUEUE = "bench-stats"
"""The queue whose list and registries `python -m lab bench stats` fills and empties."""
IDLE_QUEUE = "bench-stats-idle"
"""The queue of `bench stats`'s idle worker: always empty, so the worker stays idle."""
EMAIL = "bench@example.com"
"""The address every request of the bench asks to send an email to."""


class BenchError(Exception):
    """The bench cannot run; the message says why and what to do."""

    def __init__(self, message: str, unwritten: bool = False):
        super().__init__(message)
        self.unwritten = unwritten
        """The reason is a TODO not written yet (NotImplementedError)."""


def add_package_argument(parser: argparse.ArgumentParser, files: str) -> None:
    """--package: whose `files` a bench runs (see with_fallback)."""
    parser.add_argument(
        "--package",
        choices=["lab", "solutions"],
        help=f"whose {files} to run (default: your lab/, or solutions/ with a note while a"
        " TODO the bench needs is not written yet)",
    )


def with_fallback(
    measure: Callable[[str], T],
    package: str,
    fallback: bool,
    command: str = "bench",
    doing: tuple[str, str] = ("Measuring", "measures"),
) -> T:
    """measure(package). With `fallback`, a TODO of `package` not written yet is said in
    one line on stderr ("<command>: ... <doing[0]> the reference solutions/ instead"), and
    the reference solutions/ are measured (or run) instead."""
    try:
        return measure(package)
    except BenchError as exc:
        if not (fallback and exc.unwritten and package != "solutions"):
            raise
        print(
            f"{command}: {str(exc).rstrip('.')}. {doing[0]} the reference solutions/ instead"
            f" (--package {package} {doing[1]} only yours).",
            file=sys.stderr,
        )
        return measure("solutions")


def run_and_report(
    measure: Callable[[S], dict],
    settings: S,
    fallback: bool,
    report: Callable[[dict], str],
    counted: Callable[[dict], str],
    json_path: Path | None,
    command: str = "bench",
    doing: tuple[str, str] = ("Measuring", "measures"),
    missed: Callable[[dict], bool] = lambda result: False,
) -> int:
    """A bench command's (or the soak's) run: measure(settings) with its package
    (with_fallback()), then print report(result) and "<counted(result)> in <seconds> s.",
    and write the JSON to `json_path`. Returns the exit code: 1, after one line, when it
    cannot measure; 1 when missed(result) (a target the soak missed); else 0."""
    from redis.exceptions import RedisError  # noqa: PLC0415 (see the package's docstring)

    started = time.perf_counter()
    try:
        result = with_fallback(
            lambda package: measure(replace(settings, package=package)),
            settings.package,
            fallback,
            command,
            doing,
        )
    except BenchError as exc:
        print(f"{command}: {exc}", file=sys.stderr)
        return 1
    except RedisError as exc:
        said = f"Redis stopped answering ({type(exc).__name__}: {exc})."
        print(f"{command}: {said}", file=sys.stderr)
        return 1
    print(report(result))
    print(f"\n{counted(result)} in {time.perf_counter() - started:.0f} s.")
    if json_path:
        json_path.write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {json_path}")
    return 1 if missed(result) else 0


@dataclass(frozen=True)
class BenchSettings:
    """One run of the bench, as `python -m lab bench`'s flags chose it."""

    delay: float = 0.5
    """Seconds per email."""
    concurrency: tuple[int, ...] = (1, 10, 50)
    """The concurrency levels, measured one after another."""
    requests: int = 40
    """Requests per background / rq-enqueue cell (at least the concurrency)."""
    floor_requests: int = 300
    """Requests per floor cell (at least the concurrency)."""
    workers: int = 4
    """RQ workers started for the run."""
    package: str = "lab"
    """Whose strategies.py, producer.py and worker.py run: "lab" or "solutions"."""


DEFAULT = BenchSettings()
QUICK = BenchSettings(delay=0.2, concurrency=(1, 5, 20), requests=20, floor_requests=100)

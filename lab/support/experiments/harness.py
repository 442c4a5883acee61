"""PROVIDED: what the experiment commands (`bench`, its kinds, `soak`) share: the one error,
their common flags, the run that measures, prints and writes JSON (falling back to
solutions/ while a TODO is not written yet), one-line failures of the processes started,
and a queue of their own, emptied before and after.

httpx, redis, rq and tqdm are imported inside the functions that use them, so that
`python -m lab --help` works before the dependencies are installed.
"""

from __future__ import annotations

import json
import math
import sys
import textwrap
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from lab.support.config import get_settings, safe_url
from lab.support.course.stubs import NOT_DONE
from lab.support.servers.processes import last_line

if TYPE_CHECKING:
    import argparse

    import httpx
    from rq import Queue

T = TypeVar("T")
EMAIL = "bench@example.com"  # every request and job of the experiments sends to it


class BenchError(Exception):
    """An experiment cannot run; the message says why and what to do. `unwritten`: the
    reason is a TODO not written yet."""

    def __init__(self, message: str, unwritten: bool = False):
        super().__init__(message)
        self.unwritten = unwritten


def add_common_arguments(parser: argparse.ArgumentParser, files: str, json_help: str) -> None:
    """--json PATH, and --package: whose `files` run (see run_and_report)."""
    parser.add_argument("--json", type=Path, metavar="PATH", help=json_help)
    parser.add_argument(
        "--package",
        choices=["lab", "solutions"],
        help=f"whose {files} to run (default: your lab/, or solutions/ with a note while a"
        " TODO the bench needs is not written yet)",
    )


def settings_from(args: argparse.Namespace, base: T, names: Iterable[str], **fixed: Any) -> T:
    """`base` (a dataclass of settings) with `fixed` and each flag of `names` given."""
    given = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
    given = {k: tuple(v) if isinstance(v, list) else v for k, v in given.items()}
    return replace(base, package=args.package or "lab", **fixed, **given)  # type: ignore[type-var]


def fields_help(intro: str, fields: Mapping[str, str], width: int = 16) -> str:
    """`--help`'s end: `intro`, then each JSON field and what it holds."""
    indent = "\n" + " " * (width + 2)
    lines = [intro]
    for name, text in fields.items():
        first = f"  {name:<{width}}" if len(name) < width else f"  {name}{indent}"
        lines.append(first + indent.join(textwrap.wrap(text, 86 - width, break_on_hyphens=False)))
    return "\n".join(lines)


def run_and_report(
    measure: Callable[[Any], Any],
    settings: Any,
    args: argparse.Namespace,
    report: Callable[[Any], str],
    counted: Callable[[Any], str],
    command: str = "bench",
    doing: tuple[str, str] = ("Measuring", "measures"),
    missed: Callable[[Any], bool] = lambda result: False,
    as_json: Callable[[Any], object] = lambda result: result,
) -> int:
    """measure(settings), print report(result) and "<counted(result)> in <seconds> s.",
    write as_json(result) to --json. Without --package, a TODO of lab/ not written yet is
    said in one line ("... <doing[0]> the reference solutions/ instead") and solutions/ runs
    instead. Returns 1, after one line, when it cannot measure or when missed(result) (a
    target the soak missed); else 0."""
    from redis.exceptions import RedisError

    started = time.perf_counter()
    try:
        try:
            result = measure(settings)
        except BenchError as exc:
            if not (args.package is None and exc.unwritten and settings.package != "solutions"):
                raise
            print(
                f"{command}: {str(exc).rstrip('.')}. {doing[0]} the reference solutions/"
                f" instead (--package {settings.package} {doing[1]} only yours).",
                file=sys.stderr,
            )
            result = measure(replace(settings, package="solutions"))
    except (BenchError, TimeoutError) as exc:
        print(f"{command}: {exc}", file=sys.stderr)
        return 1
    except RedisError as exc:
        print(f"{command}: Redis stopped answering ({type(exc).__name__}: {exc}).", file=sys.stderr)
        return 1
    print(report(result))
    print(f"\n{counted(result)} in {time.perf_counter() - started:.0f} s.")
    write_json(args.json, as_json(result))
    return 1 if missed(result) else 0


def write_json(path: Path | None, data: object) -> None:
    """Write `data` to `path` (--json), if given, and say so."""
    if path:
        path.write_text(json.dumps(data, indent=1) + "\n")
        print(f"wrote {path}")


def unwritten_guard(call: Callable[[], T], package: str) -> T:
    """`call()`, with a TODO not written yet, or a learner's file that fails, turned into a
    one-line BenchError."""
    from redis.exceptions import RedisError

    try:
        return call()
    except NotImplementedError as exc:
        raise BenchError(f"{exc} ({package}/)", unwritten=True) from None
    except RedisError:
        raise
    except Exception as exc:  # a learner's file that does not import, or a wrong call
        said = f"{type(exc).__name__}: {exc}"
        raise BenchError(f"{package}/ failed before the runs: {said}") from None


def started(start: Callable[[], T], what: str) -> T:
    """start() (start_api, start_worker, ...), or, when the process exits or never gets
    ready, a BenchError "<what> did not start: <its last line>"."""
    try:
        return start()
    except (RuntimeError, TimeoutError) as exc:
        said = last_line(str(exc))
        raise BenchError(f"{what} did not start: {said}", unwritten=NOT_DONE in said) from None


def answered(response: httpx.Response, hint: str = "") -> httpx.Response:
    """`response` if it is a success; else a BenchError naming its request (a 501, a stub's
    answer naming its function, is unwritten)."""
    request = f"{response.request.method} {response.request.url.path}"
    if response.status_code == 501:
        detail = response.json()["detail"]
        raise BenchError(f"{request} answered 501: {detail}{hint}", unwritten=True)
    if not response.is_success:
        raise BenchError(f"{request} answered {response.status_code}: {response.text[:200]}")
    return response


def check_redis() -> None:
    """A BenchError that says what to do when Redis does not answer PING."""
    from redis import Redis
    from redis.exceptions import RedisError

    url = get_settings().redis_url
    with Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1) as client:
        try:
            client.ping()
        except RedisError as exc:
            raise BenchError(
                f"Cannot reach Redis at {safe_url(url)} ({type(exc).__name__}: {exc}). "
                "Start it with `python -m lab redis start`, or set REDIS_URL."
            ) from None


def bench_queue(name: str, redis: Any) -> Queue:
    """The queue `name` on `redis`, with the workers' RQ_SERIALIZER."""
    from lab.support.queueing.serializer import SettingQueue

    return SettingQueue(name, connection=redis)


def reset(queue: Queue, ids: Iterable[str] = ()) -> None:
    """Delete `queue` and every key RQ keeps under its name (its intermediate list and the
    first_seen marks of RQ's cleanup, its registries, its workers' set, its cleaning lock),
    and the jobs listed there or in `ids`, with their dependencies and results. Plain DELs:
    RQ's own delete reads each job's execution, which a killed worker's may have lost."""
    from rq.job import Job

    redis, name = queue.connection, queue.name
    kinds = ("started", "finished", "failed", "scheduled", "deferred", "canceled")
    registries = [getattr(queue, f"{kind}_job_registry") for kind in kinds]
    ids = [*ids, *queue.get_job_ids(), *queue.intermediate_queue.get_job_ids()]
    ids += [job_id for r in registries for job_id in r.get_job_ids(cleanup=False)]
    keys = [r.key for r in registries]
    keys += [*redis.scan_iter(f"rq:*:{name}", 1000), *redis.scan_iter(f"rq:*:{name}:*", 1000)]
    with redis.pipeline(transaction=False) as pipe:
        for start in range(0, len(ids), 1000):
            for job_id in ids[start : start + 1000]:
                # RQ's names, its double colon included: rq:job::<id>:dependencies.
                dependencies = f"{Job.redis_job_namespace_prefix}:{job_id}:dependencies"
                pipe.delete(Job.key_for(job_id), Job.dependents_key_for(job_id), dependencies)
                pipe.delete(f"rq:results:{job_id}")
            pipe.execute()
        pipe.delete(*keys)
        pipe.srem(queue.redis_queues_keys, queue.key)
        pipe.execute()


def progress_bar(total: int, unit: str, progress: bool | None):
    """A tqdm progress bar on stderr (`progress` None: only on a terminal)."""
    from tqdm import tqdm

    disable = None if progress is None else not progress
    return tqdm(total=total, unit=unit, disable=disable, file=sys.stderr)


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) of `values`, interpolating between ranks."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)

"""PROVIDED: RQ jobs as notebooks, tests and the API read them: waiting for a status, an
outcome in a line, emptying a queue, and what to say about a job that cannot be loaded.
"""

from __future__ import annotations

import json
from typing import Any

from lab.support.servers.processes import poll

ENDED = ("finished", "failed", "stopped", "canceled")


def wait_for_status(job: Any, *statuses: str, timeout: float = 15.0) -> str:
    """Wait until the RQ job `job` has one of `statuses` (default: any that ends it);
    return that status, or raise TimeoutError that says which status it was stuck in."""
    wanted = statuses or ENDED
    seen = poll(
        lambda: job.get_status(refresh=True).value,
        lambda status: status in wanted,
        f"job {job.id} to become {' or '.join(wanted)}",
        timeout,
    )
    return seen[-1]


def job_outcome(job: Any) -> str:
    """The RQ job's status as Redis holds it now and, when it failed or was stopped, the
    last line of its error: "failed (ValueError: not an email address: 'bob')"."""
    status = job.get_status(refresh=True).value
    latest = job.latest_result() if status in ("failed", "stopped") else None
    error = (latest.exc_string or "").strip().splitlines()[-1:] if latest is not None else []
    return f"{status} ({error[0]})" if error else status


def empty_queue(queue: Any) -> None:
    """Delete every job of the RQ queue `queue`: those waiting on it, and those its
    registries hold (started, finished, failed, deferred, scheduled, canceled)."""
    queue.empty()
    for registry in (
        queue.started_job_registry, queue.finished_job_registry, queue.failed_job_registry,
        queue.deferred_job_registry, queue.scheduled_job_registry, queue.canceled_job_registry,
    ):  # fmt: skip
        for job_id in registry.get_job_ids(cleanup=False):
            job = queue.fetch_job(job_id)
            if job is None:
                continue
            try:
                job.delete()
            except ValueError:  # RQ 3.0, a job whose worker was killed: its execution expired
                queue.connection.delete(job.key)
        queue.connection.delete(registry.key)


#: An input longer than this (in characters of JSON) is sent back cut to this many.
ECHO_CHARS = 80


def echo(value: Any, limit: int = ECHO_CHARS) -> Any:
    """`value`, safe to put in a JSON answer and at most about `limit` characters long:
    itself when it is short and finite, else its JSON text, cut to `limit` characters."""
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + "..."
    try:
        text = json.dumps(value, allow_nan=False, default=str)
        finite = True
    except ValueError:  # NaN, Infinity or -Infinity somewhere in it
        text, finite = json.dumps(value, default=str), False
    except RecursionError:
        return "(nested too deeply to show)"
    if finite and len(text) <= limit:
        return json.loads(text)
    return text if len(text) <= limit else text[:limit] + "..."


def named(exc: BaseException) -> str:
    """ "ValueError: <message>", followed by its cause's when it has one (rq's
    DeserializationError has no message of its own, its cause says what went wrong)."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return f"{text}, from {named(exc.__cause__)}" if exc.__cause__ is not None else text


def unreadable_detail(job_id: str, exc: BaseException) -> str:
    """What to say about the job `job_id` that could not be loaded because of `exc`."""
    what = echo(named(exc), 4 * ECHO_CHARS)
    return (
        f"Job {job_id} cannot be read by this API ({what}): it was queued by code that this"
        " API cannot import, or its data in Redis is damaged."
    )

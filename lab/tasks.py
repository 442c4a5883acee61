"""Step 01 - YOUR FILE (lab/tasks.py): the slow work a worker runs.

A task is an ordinary function in an importable module: the producer stores only its
dotted name ("lab.tasks.send_fake_email") and its arguments in Redis, and the worker
imports it by that name. That is why tasks cannot be defined in `__main__` or in a
notebook cell.

You write send_fake_email() in step 01. Later steps add to this one module of tasks:
send_newsletter() in step 05 (a task that reports progress), send_flaky_email() and
record_failure() in step 06 (a task that fails until retried, and a callback that RQ
calls when a job fails), hash_chain() in step 07 (work for the CPU, not a wait),
send_email_once() in step 10 (an email sent once, however often its job runs).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from datetime import datetime, timezone
from types import TracebackType

from redis import Redis
from rq import get_current_job
from rq.job import Job

from lab.support.config import get_settings
from lab.support.queueing import outbox

log = logging.getLogger(__name__)

#: The Redis list where record_failure() keeps the latest failures, newest first.
FAILURES_KEY = "workbook:failures"
#: How many failures that list keeps.
FAILURES_KEPT = 100


def send_fake_email(email_address: str, delay: float | None = None) -> str:
    """Pretend to send an email to `email_address`.

    Logs a line when it starts, waits `delay` seconds (default: the EMAIL_DELAY setting,
    10 s), hands the email to the (fake) mail provider with outbox.send(email_address),
    logs a line and returns "Task complete: Email sent to <address>". A negative delay
    raises ValueError. (outbox.send() sends once per job, however often the job runs: step
    10 shows why that matters and how it works; called outside a job, it records nothing.)
    """
    # TODO: default the delay, log, sleep, outbox.send(), log, return the receipt
    raise NotImplementedError("send_fake_email() in lab/tasks.py is not written yet")


def send_newsletter(addresses: list[str], delay: float = 0.1) -> dict:
    """Send a fake email to each of `addresses` in turn, `delay` seconds each.

    Run as a job, it reports progress in the job's meta after each address, as
    job.meta["progress"] = {"done": <sent so far>, "total": <len(addresses)>}, saved to Redis
    so that GET /jobs/{id} shows it while the job runs. An item without "@" raises
    ValueError: the job fails, and its progress shows how far it got. Returns {"sent": n}.
    """
    # TODO: for each address: check it, send it, then save progress in job.meta
    raise NotImplementedError("send_newsletter() in lab/tasks.py is not written yet")


def send_flaky_email(email_address: str, failures: int = 2, delay: float = 0) -> str:
    """Fail the first `failures` attempts of this job, then send like send_fake_email.

    A mail server that does not answer is the kind of trouble a retry can cure. Attempts are
    counted in Redis, under "workbook:attempts:<job id>" (kept an hour), because every attempt
    may run in a different process. Raises ConnectionError while failing, and RuntimeError
    when not run as a job.
    """
    # TODO: INCR the attempt count; ConnectionError while attempt <= failures
    raise NotImplementedError("send_flaky_email() in lab/tasks.py is not written yet")


def record_failure(
    job: Job,
    connection: Redis,
    exc_type: type[BaseException],
    exc_value: BaseException,
    traceback: TracebackType,
) -> None:
    """An on_failure callback: RQ calls it in the worker each time a job attempt fails.

    Pushes {"job_id", "task", "error", "at"} as JSON onto the Redis list FAILURES_KEY,
    newest first, keeping the latest FAILURES_KEPT, so that GET /failures can list them.
    "error" is "<exception type>: <message>"; "at" is an ISO 8601 UTC time.
    """
    # TODO: LPUSH one JSON entry onto FAILURES_KEY, then LTRIM to FAILURES_KEPT
    raise NotImplementedError("record_failure() in lab/tasks.py is not written yet")


def hash_chain(rounds: int, seed: str = "workbook") -> str:
    """CPU-bound work: hash `seed` (UTF-8) with SHA-256, then hash that digest (its raw
    bytes), `rounds` times in all, and return the last digest as hex (the seed's own bytes
    in hex for 0 rounds). It never waits, so two of them run at once only on two cores. A
    negative `rounds` raises ValueError.
    """
    # TODO: refuse a negative rounds, then hash as this docstring says
    raise NotImplementedError("hash_chain() in lab/tasks.py is not written yet")


def send_email_once(email_address: str, delay: float = 0) -> str:
    """Send an email to `email_address` once per job, however many times the job runs.

    RQ delivers a job at least once: a job whose worker died mid-way is run again from the
    start (when it has retries left). The mail provider, outbox.deliver(connection, address,
    idempotency_key=...), sends an email only the first time it sees a key: the key is the
    job's id, the same on every run of one job and different between jobs. Then it works
    `delay` seconds and returns "Task complete: Email sent to <address>", on every run.
    Outside a job (no id to use) it raises RuntimeError saying to enqueue it.
    """
    # TODO: send with the key, then work, then the receipt
    raise NotImplementedError("send_email_once() in lab/tasks.py is not written yet")

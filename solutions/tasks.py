"""Step 01 - YOUR FILE (lab/tasks.py): the slow work a worker runs.

A task is an ordinary function in an importable module: the producer stores only its
dotted name ("lab.tasks.send_fake_email") and its arguments in Redis, and the worker
imports it by that name. That is why tasks cannot be defined in `__main__` or in a
notebook cell.
"""

from __future__ import annotations

import logging
import time

from lab.support.config import get_settings

log = logging.getLogger(__name__)


def send_fake_email(email_address: str, delay: float | None = None) -> str:
    """Pretend to send an email to `email_address`.

    Logs a line when it starts and when it finishes, waits `delay` seconds (default:
    the EMAIL_DELAY setting, 10 s) and returns "Task complete: Email sent to <address>".
    A negative delay raises ValueError.
    """
    # BEGIN SOLUTION: default the delay, log, sleep, log, return the receipt
    if delay is None:
        delay = get_settings().email_delay
    if delay < 0:
        raise ValueError(f"delay must be 0 seconds or more, not {delay}")
    log.info("Starting to send email to %s...", email_address)
    time.sleep(delay)
    log.info("Email sent to %s!", email_address)
    return f"Task complete: Email sent to {email_address}"
    # END SOLUTION

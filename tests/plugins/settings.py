"""The settings the tests see: the defaults, whatever the shell or notebook exported.

One hook and one function, to be replaced once settings are read when used (then a test
overrides them without emptying the environment first)."""

from __future__ import annotations

import os

import pytest

#: Settings a learner may have exported that the tests must not inherit.
HERMETIC = (
    "QUEUE_NAME", "EMAIL_DELAY", "REDIS_TIMEOUT", "RESULT_TTL", "IDEMPOTENCY_TTL",
    "JOB_TIMEOUT", "MAX_BODY_BYTES", "JOB_QUEUES", "WEBHOOK_SECRET", "WORKER_TTL",
    "REDIS_OUTAGE_LIMIT", "MAINTENANCE_INTERVAL", "JOB_HEARTBEAT", "JOB_LEASE",
    "IDEMPOTENCY_CLAIM_TTL", "RQ_SERIALIZER",
)  # fmt: skip
_exported: dict[str, str] = {}


def scrub_exported_settings() -> None:
    """Take the HERMETIC settings out of os.environ (kept, to be put back at the end)."""
    _exported.update({name: os.environ.pop(name) for name in HERMETIC if name in os.environ})


def pytest_configure(config: pytest.Config) -> None:
    # Before the test modules are imported: lab/support/api/app.py reads its limits when
    # imported. xdist's workers start later, from this environment, and scrub it again.
    scrub_exported_settings()


def pytest_unconfigure(config: pytest.Config) -> None:
    os.environ.update(_exported)

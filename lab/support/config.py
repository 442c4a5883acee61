"""PROVIDED: every setting of the workbook, read from environment variables.

Settings are read on each call to `get_settings()`, so a test or a notebook can change
an environment variable and the next call sees it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

#: The checkout this package lives in (holds lab/, solutions/, notebooks/, tests/).
PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Settings:
    redis_url: str
    """Where Redis is: REDIS_URL, default redis://127.0.0.1:6379/0."""
    redis_timeout: float
    """Seconds to wait for Redis to connect or answer before giving up: REDIS_TIMEOUT."""
    email_delay: float
    """Seconds the fake email takes when no delay is given: EMAIL_DELAY (10, as in the
    original tutorial)."""
    queue_name: str
    """The RQ queue the producer fills and the worker empties: QUEUE_NAME."""
    redis_data_dir: Path
    """Where a Redis started by `python -m lab redis start` keeps its data: REDIS_DATA_DIR."""
    result_ttl: int
    """Seconds Redis keeps a finished job and its result: RESULT_TTL (500, RQ's default).
    After that, GET /jobs/{id} answers 404."""
    idempotency_ttl: int
    """Seconds an Idempotency-Key is remembered: IDEMPOTENCY_TTL (86400, one day)."""


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    if not raw.strip():
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number of seconds.") from None


def _seconds(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    if not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 1:
        raise ValueError(f"{name}={raw!r} is not a whole number of seconds (1 or more).")
    return value


def get_settings() -> Settings:
    """Read the settings from the environment now."""
    return Settings(
        redis_url=os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0",
        redis_timeout=_float("REDIS_TIMEOUT", 1.0),
        email_delay=_float("EMAIL_DELAY", 10.0),
        queue_name=os.environ.get("QUEUE_NAME") or "default",
        redis_data_dir=Path(os.environ.get("REDIS_DATA_DIR") or PROJECT_ROOT / ".redis"),
        result_ttl=_seconds("RESULT_TTL", 500),
        idempotency_ttl=_seconds("IDEMPOTENCY_TTL", 86400),
    )


def safe_url(url: str) -> str:
    """`url` with any password replaced by ***, for messages and API answers."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))

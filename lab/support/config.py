"""PROVIDED: every setting of the workbook, read from environment variables.

Settings are read on each call to `get_settings()`, so a test or a notebook can change
an environment variable and the next call sees it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, unquote

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
    worker_ttl: int
    """Seconds a worker started by `python -m lab.worker` counts as alive after its last
    heartbeat: WORKER_TTL (420, RQ's default). An idle worker sends one every WORKER_TTL - 15
    seconds (at least every second); Redis forgets a worker silent for WORKER_TTL + 60 s."""
    idempotency_ttl: int
    """Seconds an Idempotency-Key is remembered: IDEMPOTENCY_TTL (86400, one day)."""
    job_timeout: int
    """Seconds a job that the API queues may run before its worker stops it: JOB_TIMEOUT
    (180, RQ's default). The API refuses (422) an email or a newsletter whose work would not
    fit in `max_work_seconds`."""
    max_body_bytes: int
    """The largest request body the API reads, in bytes: MAX_BODY_BYTES (65536, 64 KiB);
    a larger one is answered 413."""
    webhook_secret: str
    """The secret a payment provider signs its webhooks with (step 08e): WEBHOOK_SECRET. The
    default, DEV_WEBHOOK_SECRET, is public and unsafe: set your own outside the workbook."""
    redis_outage_limit: int
    """Seconds a worker of `python -m lab.worker` keeps retrying, with backoff, once Redis
    stops answering, before it exits with one line: REDIS_OUTAGE_LIMIT (300)."""
    maintenance_interval: int
    """Seconds between two runs of RQ's maintenance (registry cleanup: abandoned jobs are
    failed or retried) and the workbook's recovery of lost jobs, in a worker of
    `python -m lab.worker`: MAINTENANCE_INTERVAL (15; RQ's default is 600)."""
    job_heartbeat: int
    """Seconds between two heartbeats of a worker that runs a job: JOB_HEARTBEAT (5; RQ's
    job_monitoring_interval, default 30)."""
    job_lease: int
    """Seconds a started job stays its worker's without a heartbeat: JOB_LEASE (45, more
    than JOB_HEARTBEAT). Past that, GET /jobs/{id} says the worker is not alive and the next
    maintenance fails or retries the job (AbandonedJobError). Longer than a Redis outage
    that workers ride out without losing the jobs they run."""
    idempotency_claim_ttl: int
    """Seconds an Idempotency-Key claimed by a request whose answer was never stored (Redis
    went away) keeps a repeat waiting (409): IDEMPOTENCY_CLAIM_TTL (30)."""
    serializer: str
    """How RQ writes a job's function, arguments and result into Redis, for the producer
    and the worker alike: RQ_SERIALIZER, pickle (RQ's default) or json."""
    job_queues: tuple[str, ...]
    """Other queues, besides QUEUE_NAME and the priorities' high and low (step 08a), whose
    jobs GET /jobs/{id}, retry and cancel act on:
    JOB_QUEUES, comma-separated (default: none). A job of any other queue is answered 404."""

    @property
    def max_work_seconds(self) -> float:
        """The longest work a job may be asked to do: WORK_SHARE of JOB_TIMEOUT (162 of 180 s),
        the rest is headroom for what the worker does around the task."""
        return round(self.job_timeout * WORK_SHARE, 3)


#: WEBHOOK_SECRET's default: written here, so known to anyone - for the workbook only.
DEV_WEBHOOK_SECRET = "whsec_workbook_development_only_unsafe"

#: The share of a job's timeout that the work it is asked to do may fill.
WORK_SHARE = 0.9


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


def _names(name: str) -> tuple[str, ...]:
    raw = os.environ.get(name, "")
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def get_settings() -> Settings:
    """Read the settings from the environment now."""
    settings = Settings(
        redis_url=os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0",
        redis_timeout=_float("REDIS_TIMEOUT", 1.0),
        email_delay=_float("EMAIL_DELAY", 10.0),
        queue_name=os.environ.get("QUEUE_NAME") or "default",
        redis_data_dir=Path(os.environ.get("REDIS_DATA_DIR") or PROJECT_ROOT / ".redis"),
        result_ttl=_seconds("RESULT_TTL", 500),
        worker_ttl=_seconds("WORKER_TTL", 420),
        idempotency_ttl=_seconds("IDEMPOTENCY_TTL", 86400),
        job_timeout=_seconds("JOB_TIMEOUT", 180),
        max_body_bytes=_seconds("MAX_BODY_BYTES", 65536),
        redis_outage_limit=_seconds("REDIS_OUTAGE_LIMIT", 300),
        maintenance_interval=_seconds("MAINTENANCE_INTERVAL", 15),
        job_heartbeat=_seconds("JOB_HEARTBEAT", 5),
        job_lease=_seconds("JOB_LEASE", 45),
        idempotency_claim_ttl=_seconds("IDEMPOTENCY_CLAIM_TTL", 30),
        serializer=(os.environ.get("RQ_SERIALIZER") or "pickle").strip().lower(),
        job_queues=_names("JOB_QUEUES"),
        webhook_secret=os.environ.get("WEBHOOK_SECRET") or DEV_WEBHOOK_SECRET,
    )
    if not 0 <= settings.email_delay <= settings.max_work_seconds:
        raise ValueError(
            f"EMAIL_DELAY={settings.email_delay:g} does not fit in a job: it must be between 0"
            f" and {settings.max_work_seconds:g} seconds ({WORK_SHARE:.0%} of"
            f" JOB_TIMEOUT={settings.job_timeout})."
        )
    if settings.job_lease <= settings.job_heartbeat:
        raise ValueError(
            f"JOB_LEASE={settings.job_lease} must be more than"
            f" JOB_HEARTBEAT={settings.job_heartbeat} seconds: a busy worker's heartbeat must"
            " come before its lease runs out."
        )
    if settings.serializer not in SERIALIZERS:
        raise ValueError(
            f"RQ_SERIALIZER={settings.serializer!r} is not one of {', '.join(SERIALIZERS)}."
        )
    return settings


#: The values RQ_SERIALIZER may take.
SERIALIZERS = ("pickle", "json")

#: Query parameters of a Redis URL whose value is a secret.
SECRET_PARAMETERS = {"password"}
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:@/?#]*):[^?#]*@")
_QUERY_SECRET = re.compile(r"(?P<name>[?&;]password=)[^&;#]*", re.IGNORECASE)


def safe_url(url: str) -> str:
    """`url` with any password replaced by ***, for messages and API answers: the one in
    `user:password@` or `:password@`, and a `?password=` in the query."""
    hidden = _USERINFO.sub(r"\g<scheme>\g<user>:***@", url, count=1)
    return _QUERY_SECRET.sub(r"\g<name>***", hidden)


def secrets_of(url: str) -> set[str]:
    """The passwords written in `url`, as written and percent-decoded."""
    found = set()
    match = _USERINFO.match(url)
    if match:
        found.add(url[match.end("user") + 1 : match.end() - 1])
    query = url.partition("?")[2].partition("#")[0]
    for name, value in parse_qsl(query.replace(";", "&"), keep_blank_values=True):
        if name.lower() in SECRET_PARAMETERS:
            found.add(value)
    for match in _QUERY_SECRET.finditer(url):
        found.add(url[match.end("name") : match.end()])
    return {secret for each in found for secret in (each, unquote(each)) if secret}


def hide_secrets(text: str, url: str | None = None) -> str:
    """`text` (a message, an exception) with every password of `url` (default: REDIS_URL)
    replaced by ***, whatever form the URL gave it in."""
    # REDIS_URL itself, not get_settings(): this runs in error paths, where another setting
    # that does not parse must not raise a second error.
    url = os.environ.get("REDIS_URL", "") if url is None else url
    for secret in sorted(secrets_of(url), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def redis_url_problem(url: str) -> str | None:
    """What is wrong with the Redis URL `url`, in one line; None when redis-py can use it.

    redis-py finds some mistakes only when it first connects (an unknown query parameter is a
    TypeError then); this check finds them now, without connecting."""
    from redis import ConnectionPool  # noqa: PLC0415 (config.py is read before dependencies)

    try:
        pool = ConnectionPool.from_url(url)
        pool.connection_class(**pool.connection_kwargs)  # builds a connection; does not connect
    except TypeError as exc:
        unknown = re.search(r"unexpected keyword argument '([^']+)'", str(exc))
        what = f"unknown option {unknown[1]!r}" if unknown else str(exc)
    except ValueError as exc:
        what = str(exc)
    else:
        return None
    return f"REDIS_URL={safe_url(url)} is not a usable Redis URL: {hide_secrets(what, url)}."


def credentials(url: str) -> tuple[str | None, str | None]:
    """(username, password) that redis-py sends to the server of `url`, percent-decoded;
    None for what the URL does not give (an empty password is none)."""
    from redis import ConnectionPool  # noqa: PLC0415

    kwargs = ConnectionPool.from_url(url).connection_kwargs
    return kwargs.get("username") or None, kwargs.get("password") or None


def password_refused(url: str, exc: Exception) -> str:
    """One line for an AuthenticationError from the Redis at `url`: what was refused and what
    to do, without the password."""
    shown = safe_url(url)
    if credentials(url)[1] is None:
        return (
            f"Redis at {shown} asks for a password, and REDIS_URL gives none: put it in the URL,"
            " percent-encoded: redis://:PASSWORD@host:port/0."
        )
    return (
        f"Redis at {shown} refused the password: {hide_secrets(str(exc), url)} Check the"
        " password (and user name) in REDIS_URL; percent-encode @ : / % and spaces in it."
    )

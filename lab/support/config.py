"""PROVIDED: every setting of the workbook, read from environment variables when first used.

`get_settings()` reads the environment once and keeps what it read (FastAPI's way,
`functools.lru_cache`): importing a module reads nothing. A test or a notebook that changes
an environment variable calls `get_settings.cache_clear()` (or uses `environment()`), and
the next call reads it. A process started later reads its own environment.

Below the settings, the Redis URL's secrets: hiding its password in what is shown.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qsl, unquote

from pydantic import (
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticUseDefault
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

#: The checkout this package lives in (holds lab/, solutions/, notebooks/, tests/).
PROJECT_ROOT = Path(__file__).resolve().parents[2]
#: WEBHOOK_SECRET's default: written here, so known to anyone - for the workbook only.
DEV_WEBHOOK_SECRET = "whsec_workbook_development_only_unsafe"
#: The share of a job's timeout that the work it is asked to do may fill.
WORK_SHARE = 0.9
#: The values RQ_SERIALIZER may take.
SERIALIZERS = ("pickle", "json")


def _seconds(value: Any, info: ValidationInfo) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        name = info.field_name.upper()
        raise ValueError(f"{name}={value!r} is not a number of seconds.") from None


def _whole(unit: str) -> BeforeValidator:
    def whole(value: Any, info: ValidationInfo) -> int:
        try:  # through str(): 1.5 is refused, not cut to 1
            number = int(str(value))
        except ValueError:
            number = 0
        if number < 1:
            name = info.field_name.upper()
            raise ValueError(f"{name}={value!r} is not a whole number of {unit} (1 or more).")
        return number

    return BeforeValidator(whole)


Seconds = Annotated[float, BeforeValidator(_seconds)]
WholeSeconds = Annotated[int, _whole("seconds")]


class Settings(BaseSettings):
    """The workbook's settings: each field reads the environment variable of its name in
    capitals (RQ_SERIALIZER for `serializer`). An empty or blank variable means the default."""

    model_config = SettingsConfigDict(
        env_ignore_empty=True, use_attribute_docstrings=True, frozen=True, validate_by_name=True
    )

    redis_url: str = "redis://127.0.0.1:6379/0"
    """Where Redis is: REDIS_URL."""
    redis_timeout: Seconds = 1.0
    """Seconds to wait for Redis to connect or answer before giving up: REDIS_TIMEOUT."""
    email_delay: Seconds = 10.0
    """Seconds the fake email takes when no delay is given: EMAIL_DELAY (10, as in the
    original tutorial)."""
    queue_name: str = "default"
    """The RQ queue the producer fills and the worker empties: QUEUE_NAME."""
    redis_data_dir: Path = PROJECT_ROOT / ".redis"
    """Where a Redis started by `python -m lab redis start` keeps its data: REDIS_DATA_DIR."""
    result_ttl: WholeSeconds = 500
    """Seconds Redis keeps a finished job and its result: RESULT_TTL (500, RQ's default).
    After that, GET /jobs/{id} answers 404."""
    worker_ttl: WholeSeconds = 420
    """Seconds a worker started by `python -m lab.worker` counts as alive after its last
    heartbeat: WORKER_TTL (420, RQ's default). An idle worker sends one every WORKER_TTL - 15
    seconds (at least every second); Redis forgets a worker silent for WORKER_TTL + 60 s."""
    idempotency_ttl: WholeSeconds = 86400
    """Seconds an Idempotency-Key is remembered: IDEMPOTENCY_TTL (86400, one day)."""
    job_timeout: WholeSeconds = 180
    """Seconds a job that the API queues may run before its worker stops it: JOB_TIMEOUT
    (180, RQ's default). The API refuses (422) an email or a newsletter whose work would not
    fit in `max_work_seconds`."""
    max_body_bytes: Annotated[int, _whole("bytes")] = 65536
    """The largest request body the API reads, in bytes: MAX_BODY_BYTES (65536, 64 KiB);
    a larger one is answered 413."""
    max_header_bytes: Annotated[int, _whole("bytes")] = 16384
    """The most the headers of a request may add up to, names and values, in bytes:
    MAX_HEADER_BYTES (16384, 16 KiB, as h11's limit on a request's head); more, or more
    than 100 headers, is answered 431 (lab/support/api/header_limit.py)."""
    webhook_secret: str = DEV_WEBHOOK_SECRET
    """The secret a payment provider signs its webhooks with (step 08e): WEBHOOK_SECRET. The
    default, DEV_WEBHOOK_SECRET, is public and unsafe: set your own outside the workbook."""
    redis_outage_limit: WholeSeconds = 300
    """Seconds a worker of `python -m lab.worker` keeps retrying, with backoff, once Redis
    stops answering, before it exits with one line: REDIS_OUTAGE_LIMIT (300)."""
    maintenance_interval: WholeSeconds = 15
    """Seconds between two runs of RQ's maintenance (registry cleanup: abandoned jobs are
    failed or retried) and the workbook's recovery of lost jobs, in a worker of
    `python -m lab.worker`: MAINTENANCE_INTERVAL (15; RQ's default is 600)."""
    job_heartbeat: WholeSeconds = 5
    """Seconds between two heartbeats of a worker that runs a job: JOB_HEARTBEAT (5; RQ's
    job_monitoring_interval, default 30)."""
    job_lease: WholeSeconds = 45
    """Seconds a started job stays its worker's without a heartbeat: JOB_LEASE (45, more
    than JOB_HEARTBEAT). Past that, GET /jobs/{id} says the worker is not alive and the next
    maintenance fails or retries the job (AbandonedJobError). Longer than a Redis outage
    that workers ride out without losing the jobs they run."""
    idempotency_claim_ttl: WholeSeconds = 30
    """Seconds an Idempotency-Key claimed by a request whose answer was never stored (Redis
    went away) keeps a repeat waiting (409): IDEMPOTENCY_CLAIM_TTL (30)."""
    serializer: str = Field("pickle", validation_alias="RQ_SERIALIZER")
    """How RQ writes a job's function, arguments and result into Redis, for the producer
    and the worker alike: RQ_SERIALIZER, pickle (RQ's default) or json."""
    dashboard_password: SecretStr | None = None
    """The password RQ's dashboard at /dashboard asks for (HTTP Basic): DASHBOARD_PASSWORD.
    Unset (the default), the dashboard is off and answers 404: there is no default password."""
    dashboard_user: str = "admin"
    """The user name RQ's dashboard asks for with DASHBOARD_PASSWORD: DASHBOARD_USER."""
    job_queues: Annotated[tuple[str, ...], NoDecode] = ()
    """Other queues, besides QUEUE_NAME and the priorities' high and low (step 08a), whose
    jobs GET /jobs/{id}, retry and cancel act on:
    JOB_QUEUES, comma-separated (default: none). A job of any other queue is answered 404."""

    @field_validator("serializer", mode="before")
    @classmethod
    def _one_of_serializers(cls, value: Any) -> str:
        name = str(value).strip().lower()
        if name not in SERIALIZERS:
            raise ValueError(f"RQ_SERIALIZER={name!r} is not one of {', '.join(SERIALIZERS)}.")
        return name

    @field_validator("job_queues", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_the_default(cls, value: Any) -> Any:
        # Defined after the others: pydantic runs "before" validators last-defined first.
        if isinstance(value, str) and not value.strip():
            raise PydanticUseDefault
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if not 0 <= self.email_delay <= self.max_work_seconds:
            raise ValueError(
                f"EMAIL_DELAY={self.email_delay:g} does not fit in a job: it must be between 0"
                f" and {self.max_work_seconds:g} seconds ({WORK_SHARE:.0%} of"
                f" JOB_TIMEOUT={self.job_timeout})."
            )
        if self.job_lease <= self.job_heartbeat:
            raise ValueError(
                f"JOB_LEASE={self.job_lease} must be more than"
                f" JOB_HEARTBEAT={self.job_heartbeat} seconds: a busy worker's heartbeat must"
                " come before its lease runs out."
            )
        return self

    @property
    def max_work_seconds(self) -> float:
        """The longest work a job may be asked to do: WORK_SHARE of JOB_TIMEOUT (162 of 180 s),
        the rest is headroom for what the worker does around the task."""
        return round(self.job_timeout * WORK_SHARE, 3)


#: The environment variables the settings read, by their names.
VARIABLES = tuple(
    str(f.validation_alias or name).upper() for name, f in Settings.model_fields.items()
)


@lru_cache
def get_settings() -> Settings:
    """The settings, read from the environment at the first call and kept for the next ones
    (`get_settings.cache_clear()` reads them again). A setting that does not parse raises
    ValueError, in one line that names the variable and says what is wrong."""
    try:
        return Settings()
    except ValidationError as exc:
        raise ValueError(" ".join(map(_sentence, exc.errors(include_url=False)))) from None


def _sentence(error: Any) -> str:
    """One of pydantic's errors as a sentence: the validators' own, or NAME=value: what."""
    if isinstance(error.get("ctx", {}).get("error"), ValueError):
        return str(error["ctx"]["error"])
    name = str(error["loc"][0]).upper() if error["loc"] else "a setting"
    return f"{name}={error['input']!r}: {error['msg']}."


@contextmanager
def environment(**values: str | None) -> Iterator[None]:
    """Environment variables set (None: removed) for the `with` block only, with
    get_settings() reading them: its cache is cleared on the way in and on the way out."""
    saved = {name: os.environ.get(name) for name in values}
    try:
        _put(values)
        yield
    finally:
        _put(saved)


def _put(values: dict[str, str | None]) -> None:
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    get_settings.cache_clear()


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
    if url is None:
        try:
            url = get_settings().redis_url
        except ValueError:  # an error path: another setting that does not parse must not
            url = os.environ.get("REDIS_URL", "")  # raise a second error here
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

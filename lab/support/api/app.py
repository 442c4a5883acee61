"""PROVIDED: the parts of the producer's API that you do not write.

- the models of its requests and answers (EmailRequest, Queued, JobState, ...);
- `EmailQueue`, the queue an endpoint receives as a parameter (FastAPI's dependency
  injection), made once per app with your `get_queue()`;
- `JobId`, the job id of a path: well-formed, and a job of this API's queues;
- the 503 answer when Redis is unreachable, and the 501 answer that names a TODO of yours
  not written yet;
- GET /health, POST /newsletters and GET /failures (`provided_router`), and step 04's
  GET /health and POST /noop (`floor_router`);
- `create_app()`, which assembles an app from routers: lab/producer.py calls it at its end
  with your routers (steps 02, 05 and 06), so that `uvicorn lab.producer:app` serves them.
  It also adds what guards every endpoint: a limit on body sizes (body_limit.py), error
  answers that can always be written (errors.py), and their documentation in the OpenAPI
  schema (/docs); and RQ's web dashboard, rq-dashboard-fast, at /dashboard (dashboard.py).

Limits that come from settings (JOB_TIMEOUT, MAX_BODY_BYTES) are read when this module is
imported, that is when the API starts.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from types import ModuleType
from typing import Annotated, Any, Literal, get_args

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError, ResponseValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import AwareDatetime, BaseModel, EmailStr, Field, ValidationError, model_validator
from redis.exceptions import AuthenticationError, RedisError, ResponseError
from rq import Callback, Queue, Worker
from rq.exceptions import DeserializationError, NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import ScheduledJobRegistry
from rq.utils import utcparse

from lab.support.api.body_limit import BodyLimitMiddleware
from lab.support.api.errors import ErrorAnswer, invalid_request, job_unreadable
from lab.support.api.idempotency import Claim, IdempotencyMiddleware, Remember
from lab.support.config import (
    WORK_SHARE,
    get_settings,
    hide_secrets,
    password_refused,
    redis_url_problem,
    safe_url,
)
from lab.support.queueing.jobs import unreadable_detail
from lab.support.queueing.serializer import rq_serializer

#: The message of every answer that queued an email (the original tutorial's words).
QUEUED_MESSAGE = "Email sending task has been queued."
#: The message of an answer that scheduled an email for later (step 08b).
SCHEDULED_MESSAGE = "Email sending task has been scheduled."

_settings = get_settings()
#: Seconds a job that the API queues may run (JOB_TIMEOUT), and the work it may be asked to do.
JOB_TIMEOUT = _settings.job_timeout
MAX_WORK = _settings.max_work_seconds
_FITS = (
    f"A job may run {JOB_TIMEOUT} s (JOB_TIMEOUT); the work it is asked to do may fill"
    f" {WORK_SHARE:.0%} of that, {MAX_WORK:g} s."
)
#: A number of seconds: a JSON number, not true/false or a string, finite, 0 to MAX_WORK.
_SECONDS = {"ge": 0, "le": MAX_WORK, "strict": True, "allow_inf_nan": False}

#: The priorities of POST /emails, most urgent first (step 08a): each is a queue of that name,
#: except "default", which is the app's queue (QUEUE_NAME).
Priority = Literal["high", "default", "low"]
PRIORITIES: tuple[str, ...] = get_args(Priority)
#: The longest send_in (step 08b): one year.
MAX_AHEAD = timedelta(days=365)


class EmailRequest(BaseModel):
    """The body of POST /emails."""

    model_config = {"json_schema_extra": {"not": {"required": ["send_at", "send_in"]}}}

    email: EmailStr = Field(examples=["user@example.com"])
    delay: float | None = Field(
        default=None,
        **_SECONDS,
        description="Seconds the fake email takes (default: EMAIL_DELAY, 10). " + _FITS,
    )
    priority: Priority = Field(
        default="default",
        description="Which queue: high, default or low (step 08a). A worker started as"
        " `python -m lab.worker high default low` takes high first.",
    )
    send_at: AwareDatetime | None = Field(
        default=None,
        description="Send at this time (step 08b): ISO 8601 with a time zone (Z or +01:00),"
        " in the future, such as 2030-01-01T09:00:00+01:00. Not with send_in.",
    )
    send_in: float | None = Field(
        default=None,
        gt=0,
        le=MAX_AHEAD.total_seconds(),
        strict=True,
        allow_inf_nan=False,
        description="Send this many seconds from now (step 08b), up to a year. Not with"
        " send_at. A scheduled job runs only if a worker runs with --with-scheduler.",
    )

    @model_validator(mode="after")
    def one_time(self) -> EmailRequest:
        if {"send_at", "send_in"} <= self.model_fields_set:
            raise ValueError("give send_at or send_in, not both")
        if self.send_at is not None:
            try:  # RQ schedules by the UTC time: one past 9999-12-31 cannot be written
                self.send_at.astimezone(timezone.utc)
            except OverflowError:
                raise ValueError(
                    f"send_at {self.send_at.isoformat()} is after 9999-12-31T23:59:59Z, the"
                    " latest time there is once in UTC"
                ) from None
            ahead = self.send_at - datetime.now(timezone.utc)
            if ahead <= timedelta(0):
                raise ValueError(
                    f"send_at {self.send_at.isoformat()} is in the past; give a time to come,"
                    " or leave send_at out to send now"
                )
        return self

    @property
    def scheduled(self) -> bool:
        """Whether the email is to be sent later (send_at or send_in given)."""
        return self.send_at is not None or self.send_in is not None


class Queued(BaseModel):
    """The answer to a request that queued a job."""

    message: str = Field(examples=[QUEUED_MESSAGE])
    job_id: str


class EmailQueued(Queued):
    """The answer of POST /emails: a queued job, or a scheduled one with when it is due."""

    scheduled_for: datetime | None = Field(
        default=None, description="When a scheduled job is due (UTC); only for those."
    )


class NewsletterRequest(BaseModel):
    """The body of POST /newsletters."""

    addresses: list[EmailStr] = Field(
        min_length=1,
        max_length=1000,
        description=f"1 to 1000 addresses; addresses x delay at most {MAX_WORK:g} s. " + _FITS,
    )
    delay: float = Field(default=0.1, **_SECONDS, description="Seconds each email takes.")

    @model_validator(mode="after")
    def fits_in_one_job(self) -> NewsletterRequest:
        work = len(self.addresses) * self.delay
        if work > MAX_WORK:
            raise ValueError(
                f"{len(self.addresses)} addresses at {self.delay:g} s each take {work:g} s,"
                f" more than a job may be asked to do ({MAX_WORK:g} s: {WORK_SHARE:.0%} of"
                f" JOB_TIMEOUT={JOB_TIMEOUT} s); send fewer addresses or a shorter delay"
            )
        return self


#: The seconds each fake step of a repository may take.
MAX_STEP_SECONDS = 30


class RepositoryRequest(BaseModel):
    """The body of POST /repositories (step 08d)."""

    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$",
        examples=["my-project"],
        description="1 to 100 letters, digits, '.', '_' and '-', starting with a letter or digit.",
    )
    delay: float = Field(
        default=0.5,
        ge=0,
        le=MAX_STEP_SECONDS,
        strict=True,
        allow_inf_nan=False,
        description=f"Seconds each fake step takes, 0 to {MAX_STEP_SECONDS}.",
    )
    fail_step: Literal["create", "files", "webhooks"] | None = Field(
        default=None, description="Make this step fail, to see what becomes of the later ones."
    )


class RepositoryQueued(BaseModel):
    """The answer of POST /repositories: a job per step, in the order they run."""

    message: str
    jobs: dict[str, str] = Field(
        description="Job id of each step: create, files (after create), webhooks (after files)"
        " and cleanup (after files, whether files finished or failed).",
        examples=[{"create": "5115d446-...", "files": "...", "webhooks": "...", "cleanup": "..."}],
    )


#: An event id of POST /webhooks/payments (step 08e): it becomes the job id.
EVENT_ID_PATTERN = r"^[A-Za-z0-9_-]{1,100}$"


class PaymentEvent(BaseModel):
    """The JSON body of POST /webhooks/payments (step 08e): an event of the payment provider."""

    id: str = Field(
        pattern=EVENT_ID_PATTERN,
        examples=["evt_1Q2w3E4r"],
        description="The provider's id of the event, the same in every delivery of it: 1 to"
        " 100 letters, digits, - and _. It is the id of the job that processes it.",
    )
    type: str = Field(max_length=100, examples=["payment.succeeded"])
    data: dict[str, Any] = Field(default_factory=dict, examples=[{"amount": 4200}])


def read_event(raw: bytes) -> PaymentEvent:
    """The event of a POST /webhooks/payments body: HTTPException 400 when the body is not
    JSON, RequestValidationError (422, each problem with its `loc`) when it is not an event."""
    try:
        return PaymentEvent.model_validate_json(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        if any(error["type"] == "json_invalid" for error in errors):
            raise HTTPException(
                400, "The body is not JSON text: an event is a JSON object."
            ) from None
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in errors]
        ) from None


class PaymentAccepted(BaseModel):
    """The answer of POST /webhooks/payments."""

    message: str
    job_id: str = Field(description="The job that processes the event: its id is the event's.")


#: The answers and body of POST /webhooks/payments, for its OpenAPI schema: the endpoint
#: reads the body itself, as bytes, since the signature is over the bytes sent.
PAYMENT_ROUTE: dict[str, Any] = {
    "response_model": PaymentAccepted,
    "responses": {
        200: {"model": PaymentAccepted, "description": "An event received before: its job."},
        400: {
            "model": ErrorAnswer,
            "description": "A missing, malformed, stale or wrong signature; or a body that is"
            " not JSON.",
        },
    },
    "openapi_extra": {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": PaymentEvent.model_json_schema()}},
        }
    },
}


class Health(BaseModel):
    """The answer of GET /health."""

    status: str = Field(examples=["ok"], description="ok, or unavailable (with a 503).")
    redis: str = Field(examples=["ok"], description="ok, or why Redis does not answer.")
    queue: str | None = Field(default=None, examples=["default"])
    queued: int | None = Field(default=None, description="How many jobs wait on the queue.")


class Waiting(BaseModel):
    """A job that a deferred job depends on."""

    id: str
    task: str | None = Field(default=None, description="None when Redis no longer holds it.")
    status: str | None = None


class JobState(BaseModel):
    """The answer of GET /jobs/{job_id}: where a job is in its life."""

    id: str
    status: str = Field(description="queued, started, deferred, scheduled, finished, failed, ...")
    task: str = Field(description="The function the worker runs, by its dotted name.")
    enqueued_at: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    position: int | None = Field(default=None, description="0 = next; only while queued.")
    progress: dict | None = Field(default=None, description="What the task saved in job.meta.")
    retries_left: int | None = None
    result: Any = Field(default=None, description="The return value, once finished.")
    error: str | None = Field(default=None, description="'<exception>: <message>', once failed.")
    traceback: str | None = Field(default=None, description="Only with ?traceback=1.")
    queue: str | None = Field(default=None, description="The queue the job is on, or was.")
    scheduled_for: datetime | None = Field(
        default=None, description="When a scheduled job is due to be queued (UTC)."
    )
    waiting_for: list[Waiting] | None = Field(
        default=None, description="For a deferred job: the jobs it depends on, and their status."
    )
    why: str | None = Field(
        default=None,
        description="Why a scheduled or deferred job has not run yet, or why a started job's"
        " worker does not count as alive, in a sentence.",
    )
    worker: str | None = Field(
        default=None, description="For a started job: the name of the worker that runs it."
    )
    worker_alive: bool | None = Field(
        default=None,
        description="For a started job: whether its worker is alive, that is Redis still holds"
        " the worker and its last heartbeat is at most JOB_LEASE seconds old (a busy worker"
        " sends one every JOB_HEARTBEAT seconds). False: the worker has died or lost Redis;"
        " the job is failed or retried (AbandonedJobError) by a worker's next maintenance."
        " Null when the worker's heartbeat cannot be read.",
    )
    seconds_since_heartbeat: float | None = Field(
        default=None, description="For a started job: how long ago its worker's last heartbeat was."
    )


# --- the queue every endpoint receives ------------------------------------------------------


class BadRedisUrl(RedisError):
    """REDIS_URL cannot be used at all (a wrong scheme, port or option): answered 503."""


def app_queue(app: FastAPI) -> Queue:
    """The queue of `app`: made with the app's `get_queue()` on first use, then kept, with
    JOB_TIMEOUT as the timeout of the jobs queued on it and RQ_SERIALIZER as its serializer.

    A test may replace it with `app.dependency_overrides[email_queue]`; this function
    honours that too, for code outside FastAPI's dependency injection (the middleware)."""
    override = app.dependency_overrides.get(email_queue)
    if override is not None:
        return override()
    if app.state.queue is None:
        problem = redis_url_problem(get_settings().redis_url)
        if problem is not None:
            raise BadRedisUrl(problem)
        queue = with_job_timeout(app.state.get_queue(), JOB_TIMEOUT)
        queue.serializer = rq_serializer()  # RQ_SERIALIZER, as every worker's (trust.py)
        app.state.queue = queue
    return app.state.queue


def with_job_timeout(queue: Queue, seconds: int) -> Queue:
    """The same queue (name, connection, job class, serializer) whose jobs get `seconds` as
    their timeout unless `enqueue()` says otherwise (RQ's default is 180 s)."""
    return sibling_queue(queue, queue.name, seconds)


def email_queue(request: Request) -> Queue:
    """The queue of the app that received `request`."""
    return app_queue(request.app)


# An endpoint parameter of this type receives the app's queue (FastAPI dependency injection).
EmailQueue = Annotated[Queue, Depends(email_queue)]


def sibling_queue(queue: Queue, name: str, timeout: int | None = None) -> Queue:
    """A queue named `name`, otherwise like `queue`: same connection, job class, serializer
    and job timeout (or `timeout`, when given)."""
    return type(queue)(
        name,
        connection=queue.connection,
        default_timeout=queue._default_timeout if timeout is None else timeout,
        is_async=queue.is_async,
        job_class=queue.job_class,
        serializer=queue.serializer,
        death_penalty_class=queue.death_penalty_class,
    )


def served_queues(queue: Queue) -> list[str]:
    """The queues whose jobs this API shows, retries and cancels: the app's queue, the
    priorities' queues (step 08a) and JOB_QUEUES."""
    extra = (*PRIORITIES, *get_settings().job_queues)
    return list(dict.fromkeys([queue.name, *(name for name in extra if name != "default")]))


def waiting_state(job: Job) -> dict:
    """What GET /jobs/{job_id} adds beside your describe_job(), for a job that has not run
    yet or has not ended: when a scheduled job is due, what a deferred job waits for, and
    which worker runs a started job and whether it is alive (worker_state()) - with, in
    `why`, a sentence that says it. The job's queue in any case."""
    state: dict[str, Any] = {"queue": job.origin}
    status = job.get_status(refresh=False)
    if status == JobStatus.STARTED:
        state.update(worker_state(job))
    elif status == JobStatus.SCHEDULED:
        registry = ScheduledJobRegistry(job.origin, connection=job.connection)
        try:
            due = registry.get_scheduled_time(job)
        except NoSuchJobError:  # moved to its queue just now
            return state
        state["scheduled_for"] = due
        state["why"] = (
            f"Scheduled for {due.isoformat()}: a worker started with --with-scheduler queues"
            " it then; without one it waits."
        )
    elif status == JobStatus.DEFERRED:
        waiting = []
        for dependency_id in job.dependency_ids:
            try:
                other = Job.fetch(
                    dependency_id, connection=job.connection, serializer=job.serializer
                )
                waiting.append(
                    {"id": other.id, "task": other.func_name, "status": other.get_status().value}
                )
            except NoSuchJobError:
                waiting.append({"id": dependency_id, "task": None, "status": None})
        state["waiting_for"] = waiting
        state["why"] = deferred_reason(job, waiting)
    return state


def worker_state(job: Job) -> dict:
    """The worker of the started `job`, and whether it is alive: Redis still holds the
    worker's key and its last heartbeat is at most JOB_LEASE seconds old. Read now, from the
    worker's hash, without waiting for RQ's cleanup of the started registry (which fails an
    abandoned job only at a worker's next maintenance). A damaged worker key or heartbeat
    gives worker_alive null and a sentence in `why`, not a 500; Redis down is a 503."""
    name = job.worker_name
    if not name:
        return {}
    lease = get_settings().job_lease
    state: dict[str, Any] = {"worker": name, "worker_alive": None, "seconds_since_heartbeat": None}
    key = Worker.redis_worker_namespace_prefix + name
    try:  # one round trip
        raw, exists = (
            job.connection.pipeline(transaction=False)
            .hget(key, "last_heartbeat")
            .exists(key)
            .execute()
        )
    except ResponseError:  # the key holds something else than a worker's hash
        state["why"] = f"Its worker {name} cannot be read: its key in Redis is damaged."
        return state
    if not exists:
        state["worker_alive"] = False
        state["why"] = (
            f"Its worker {name} is gone: Redis no longer holds it (it stopped, died or lost"
            " Redis long ago). A worker's next maintenance fails or retries the job"
            " (AbandonedJobError)."
        )
        return state
    try:
        beat = utcparse(raw.decode())
        age = (datetime.now(timezone.utc) - beat).total_seconds()
    except (AttributeError, ValueError, OverflowError):  # no heartbeat, or not a time
        age = None
    if age is None or age < -lease:  # a heartbeat from the future is as unreadable
        state["why"] = f"Its worker {name} has a heartbeat that cannot be read: {raw!r:.60}."
        return state
    state["seconds_since_heartbeat"] = round(max(age, 0.0), 3)
    state["worker_alive"] = age <= lease
    if age > lease:
        state["why"] = (
            f"Its worker {name} has sent no heartbeat for {age:.0f} s, more than"
            f" JOB_LEASE={lease} s: it has died or lost Redis. A worker's next maintenance"
            " fails or retries the job (AbandonedJobError)."
        )
    return state


def deferred_reason(job: Job, waiting: list[dict]) -> str:
    """Why the deferred `job` has not run, from the state of the jobs it waits for."""
    tolerant = job.allow_dependency_failures
    ended = ("finished", "failed", "stopped", "canceled") if tolerant else ("finished",)
    blocking = [w for w in waiting if w["status"] not in ended]
    if not blocking:
        return "Every job it waits for has ended: it is being queued now."
    ends = "ends" if tolerant else "finishes"
    lines = []
    for w in blocking:
        name = f"{(w['task'] or 'job').rpartition('.')[2]} ({w['id']})"
        if w["status"] in ("failed", "stopped", "canceled"):
            lines.append(
                f"{name}, which {w['status']}: this job will not run unless that one is"
                " retried and finishes"
            )
        elif w["status"] is None:
            lines.append(f"{name}, which Redis no longer holds: this job will never run")
        elif w["status"] == "deferred":
            lines.append(
                f"{name}, which is deferred itself: this job runs once it {ends}, and"
                " GET /jobs of that one says what it waits for"
            )
        else:
            lines.append(f"{name}, which is {w['status']}: this job runs once it {ends}")
    return "Waits for " + "; ".join(lines) + "."


# --- the job id of /jobs/{job_id} ---------------------------------------------------------


JOB_ID_PATTERN = r"^[A-Za-z0-9_-]{1,128}$"


def own_job_id(
    job_id: Annotated[
        str,
        Path(
            pattern=JOB_ID_PATTERN,
            description="A job id: RQ makes a UUID, 36 characters such as"
            " 5115d446-6c01-4ac7-a1fe-9e28ca5c027a; an id chosen when queueing may be 1 to 128"
            " letters, digits, - and _. Only jobs of this API's queues are found here.",
            examples=["5115d446-6c01-4ac7-a1fe-9e28ca5c027a"],
        ),
    ],
    queue: EmailQueue,
) -> str:
    """The job id of the path, once checked: well-formed (else 422, from the pattern); not
    the id of a job of another queue (404) or of a job this API cannot load (422). An id
    that Redis does not hold at all passes: your fetch_job() answers it."""
    key = queue.job_class.key_for(job_id)
    try:
        origin = queue.connection.hget(key, "origin")
        if origin is None and not queue.connection.exists(key):
            return job_id
    except ResponseError:  # the key holds something else than a job hash
        origin = None
    served = served_queues(queue)
    if origin is None or origin.decode(errors="replace") not in served:
        names = ", ".join(served)
        raise HTTPException(404, f"No job {job_id} on the queues this API serves ({names}).")
    try:  # load it as fetch_job() will, with the name and arguments of its function
        job = queue.job_class.fetch(job_id, queue.connection, serializer=queue.serializer)
        job.func_name  # noqa: B018 (reading it unpickles the job's data)
    except NoSuchJobError:
        return job_id
    except RedisError as exc:
        if not isinstance(exc, ResponseError):
            raise  # Redis down: 503
        raise HTTPException(422, unreadable_detail(job_id, exc)) from None
    except Exception as exc:  # whatever loading it raised, this API cannot read the job
        raise HTTPException(422, unreadable_detail(job_id, exc)) from None
    return job_id


#: A path parameter of this type is a job id that own_job_id() has checked.
JobId = Annotated[str, Depends(own_job_id)]


def unavailable_detail(exc: RedisError) -> str:
    """What a 503 says when Redis is down or silent, or REDIS_URL unusable: what to do,
    without the password of REDIS_URL."""
    if isinstance(exc, BadRedisUrl):
        return f"{exc} Fix REDIS_URL, then start the API again."
    if isinstance(exc, AuthenticationError):  # a ConnectionError, but "start it" would not help
        return password_refused(get_settings().redis_url, exc)
    url = safe_url(get_settings().redis_url)
    return (
        f"Redis is not reachable at {url} ({type(exc).__name__}: {hide_secrets(str(exc))})."
        " Start it with `python -m lab redis start`, or set REDIS_URL, then try again."
    )


async def redis_unavailable(request: Request, exc: RedisError) -> JSONResponse:
    """Redis down or silent: answer 503 with what to do, instead of a 500."""
    return JSONResponse(status_code=503, content={"detail": unavailable_detail(exc)})


# --- the error answers each endpoint documents -----------------------------------------------

ERRORS = {
    400: "The body could not be read as JSON text (it is not UTF-8, say).",
    404: "No such job on this API's queues, or the path matches no endpoint (a / in a"
    " parameter, say).",
    409: "The job's status does not allow this; or a request with the same Idempotency-Key"
    " is still being handled (try again after Retry-After seconds).",
    413: "The request body is larger than MAX_BODY_BYTES.",
    422: "The request does not fit: `detail` lists each problem, with where (`loc`) and"
    " what (`msg`). Or, as a sentence: an Idempotency-Key that is malformed or was used for"
    " another request, or a job that this API cannot read.",
    503: "Redis is not reachable, or REDIS_URL cannot be used: `detail` says what to do.",
}


def _dependants(route: APIRoute) -> list:
    found, todo = [], [route.dependant]
    while todo:
        found.append(todo.pop())
        todo.extend(found[-1].dependencies)
    return found


def document_errors(route: APIRoute, idempotent: bool) -> None:
    """Add to `route`'s OpenAPI answers every error status it may answer, with ErrorAnswer
    as their JSON shape (those it declares itself stay as they are)."""
    parts = _dependants(route)
    calls = {part.call for part in parts}
    has = {kind: any(getattr(p, f"{kind}_params") for p in parts) for kind in ("path", "body")}
    post = "POST" in route.methods
    codes = {413}
    codes |= {503} if email_queue in calls else set()
    codes |= {422} if has["path"] or has["body"] or any(p.query_params for p in parts) else set()
    codes |= {400, 422} if has["body"] else set()
    codes |= {404} if has["path"] else set()
    codes |= {409, 422} if post and idempotent else set()
    if own_job_id in calls:
        codes |= {404, 409, 422} if post else {404, 422}
    for code in sorted(codes):
        route.responses.setdefault(code, {"model": ErrorAnswer, "description": ERRORS[code]})


async def not_written(request: Request, exc: NotImplementedError) -> JSONResponse:
    """A TODO of yours not written yet: answer 501 with the stub's words, which name the
    function and its file, instead of a bare 500 and a traceback in the server's log."""
    return JSONResponse(status_code=501, content={"detail": f"{exc} (see its TODO)"})


def create_app(
    title: str,
    get_queue: Callable[[], Queue],
    routers: Sequence[APIRouter] = (),
    description: str = "",
    idempotency: tuple[Claim, Remember] | None = None,
) -> FastAPI:
    """A FastAPI app serving `routers`, whose endpoints receive `get_queue()` as EmailQueue
    and answer 503 JSON when Redis is unreachable.

    `idempotency=(claim_key, remember_answer)` makes every POST with an Idempotency-Key
    header run once (lab/support/api/idempotency.py). Every error answer is JSON, documented in
    the OpenAPI schema (ERRORS); a body over MAX_BODY_BYTES is refused with 413."""
    app = FastAPI(title=title, description=description)
    app.state.get_queue, app.state.queue = get_queue, None
    app.add_exception_handler(RedisError, redis_unavailable)
    app.add_exception_handler(NotImplementedError, not_written)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(DeserializationError, job_unreadable)
    app.add_exception_handler(ResponseValidationError, job_unreadable)
    for router in routers:
        for route in router.routes:
            if isinstance(route, APIRoute):
                document_errors(route, idempotent=idempotency is not None)
        app.include_router(router)
    if idempotency is not None:
        claim, remember = idempotency
        app.add_middleware(
            IdempotencyMiddleware,
            claim=claim,
            remember=remember,
            connection=lambda: app_queue(app).connection,
            on_redis_error=redis_unavailable,
            on_not_written=not_written,
        )
    # Added last, so it is the outermost: a body is counted before anything reads it.
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=_settings.max_body_bytes)
    from lab.support.api.dashboard import mount_dashboard  # noqa: PLC0415 (dashboard.py imports this module)

    mount_dashboard(app)  # notebook 09: rq-dashboard-fast at /dashboard, guarded
    return app


# --- endpoints you do not write -----------------------------------------------------------


def provided_router(tasks: ModuleType) -> APIRouter:
    """GET /health, POST /newsletters (queues `tasks.send_newsletter`, step 05, with the
    `tasks.record_failure` callback, step 06) and GET /failures (what that callback kept
    under `tasks.FAILURES_KEY`)."""
    router = APIRouter()

    @router.get("/health", response_model=Health, responses={503: {"model": Health}})
    def health(request: Request) -> JSONResponse:
        """Whether Redis answers, and how many jobs wait on the queue."""
        try:
            queue = app_queue(request.app)
            queue.connection.ping()
            waiting = queue.count
        except RedisError as exc:
            return JSONResponse(
                status_code=503,
                content={
                    "status": "unavailable",
                    "redis": f"{type(exc).__name__}: {hide_secrets(str(exc))}",
                },
            )
        return JSONResponse({"status": "ok", "redis": "ok", "queue": queue.name, "queued": waiting})

    @router.post("/newsletters", response_model=Queued, status_code=202)
    def create_newsletter(body: NewsletterRequest, queue: EmailQueue) -> dict:
        """Queue one job that emails every address in turn; follow it with GET /jobs/{job_id}.

        The job may run JOB_TIMEOUT seconds, as every job of the app's queue (app_queue()); a
        list whose work would take longer is refused."""
        job = queue.enqueue(
            tasks.send_newsletter,
            body.addresses,
            body.delay,
            on_failure=Callback(tasks.record_failure),
        )
        return {"message": "Newsletter queued.", "job_id": job.id}

    @router.get("/failures", description=FAILURES_COVER)
    def list_failures(
        queue: EmailQueue, limit: Annotated[int, Query(ge=1, le=100)] = 20
    ) -> list[dict]:
        """The latest failed attempts, newest first, as the on_failure callback recorded them:
        those of jobs queued with record_failure as their callback (the newsletters of
        POST /newsletters), not emails of POST /emails or GET /send-email (no callback), nor
        jobs stopped on command or whose work horse died. FAILURES_COVER says it in full."""
        entries = queue.connection.lrange(tasks.FAILURES_KEY, 0, limit - 1)
        return [entry for entry in map(_entry, entries) if entry is not None]

    return router


#: What GET /failures lists (its description in the OpenAPI schema, /docs).
FAILURES_COVER = """The latest failed attempts of jobs, newest first (at most `limit`; the
latest 100 are kept), as the `on_failure` callback `record_failure` (lab/tasks.py, step 06)
recorded them, from every queue of this Redis.

Covered: every failed attempt of a job queued with `on_failure=Callback(record_failure)`,
including attempts that a retry cured and timeouts. The API queues only the newsletters of
POST /newsletters so; your own code may queue other jobs so.

Not covered: emails queued by POST /emails and GET /send-email/{email} (they have no
callback: GET /jobs/{job_id} shows their error); jobs stopped on command; and a job whose
work horse was killed or crashed while its worker went on (RQ calls no callback then). A job
left by a worker that was killed itself appears, as AbandonedJobError, once another
worker's clean-up finds it. The failed jobs themselves are in RQ's FailedJobRegistry."""


def _entry(raw: bytes) -> dict | None:
    """One entry of the failures list; None for one that is not a JSON object."""
    try:
        entry = json.loads(raw)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) else None


def floor_router() -> APIRouter:
    """Step 04's yardsticks, beside the strategies of lab/strategies.py: GET /health and
    POST /noop."""
    router = APIRouter()

    @router.get("/health")
    async def health() -> dict:
        """Answers at once - whenever the event loop is free to run it."""
        return {"status": "ok"}

    @router.post("/noop", response_model=Queued, status_code=202)
    def noop(body: EmailRequest, queue: EmailQueue) -> dict:
        """The floor: POST /queued/emails without the enqueue. The same body, queue and
        answer, run the same way (a `def`, in the thread pool), so that the difference between
        the two is what putting the job on the queue costs."""
        return {"message": "Nothing queued.", "job_id": "none"}

    return router

"""PROVIDED: the models of the producer's requests and answers (FastAPI checks a request
against its model before your endpoint runs, and writes the answer through its model).

The work an email or a newsletter asks for must fit in a job: at most `max_work_seconds`
(WORK_SHARE of JOB_TIMEOUT). That limit is read from the settings when a request is
checked, and when an app builds its OpenAPI schema (/docs): `WorkSeconds` states it there
as the `maximum`, and `limits_stated` fills it into descriptions.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, Literal, get_args

from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError
from pydantic import AwareDatetime, BaseModel, EmailStr, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError, core_schema

from lab.support.api.errors import ErrorAnswer
from lab.support.config import WORK_SHARE, get_settings

#: The message of every answer that queued an email (the original tutorial's words).
QUEUED_MESSAGE = "Email sending task has been queued."
#: The message of an answer that scheduled an email for later (step 08b).
SCHEDULED_MESSAGE = "Email sending task has been scheduled."

#: The priorities of POST /emails, most urgent first (step 08a): each is a queue of that name,
#: except "default", which is the app's queue (QUEUE_NAME).
Priority = Literal["high", "default", "low"]
PRIORITIES: tuple[str, ...] = get_args(Priority)
#: The longest send_in (step 08b): one year.
MAX_AHEAD = timedelta(days=365)
#: What a description says of the work a job may do ({...} filled in by limits_stated).
FITS = (
    "A job may run {job_timeout} s (JOB_TIMEOUT); the work it is asked to do may fill"
    " {share:.0%} of that, {max_work:g} s."
)


def limits_stated(schema: dict[str, Any]) -> None:
    """A field's json_schema_extra: its description with JOB_TIMEOUT and the work a job may
    do filled in ({job_timeout}, {max_work}, {share}), as the settings say when the app
    builds its schema."""
    settings = get_settings()
    schema["description"] = schema["description"].format(
        job_timeout=settings.job_timeout, max_work=settings.max_work_seconds, share=WORK_SHARE
    )


class AtMostMaxWork:
    """The annotation of a number of seconds of work: at most `max_work_seconds`, checked
    when a request is validated (an error like pydantic's own `le`) and stated as the
    `maximum` of its JSON schema when an app builds its OpenAPI schema."""

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(self, schema: Any, handler: Any) -> dict[str, Any]:
        return {**handler(schema), "maximum": get_settings().max_work_seconds}

    @staticmethod
    def check(seconds: float) -> float:
        most = get_settings().max_work_seconds
        if seconds > most:
            shown = int(most) if most.is_integer() else most  # as pydantic writes 162.0
            raise PydanticCustomError(
                "less_than_equal", f"Input should be less than or equal to {shown}", {"le": most}
            )
        return seconds


#: Seconds of work: a JSON number (not true/false or a string), finite, 0 to max_work_seconds.
WorkSeconds = Annotated[float, Field(ge=0, strict=True, allow_inf_nan=False), AtMostMaxWork()]


class EmailRequest(BaseModel):
    """The body of POST /emails."""

    model_config = {"json_schema_extra": {"not": {"required": ["send_at", "send_in"]}}}

    email: EmailStr = Field(examples=["user@example.com"])
    delay: WorkSeconds | None = Field(
        default=None,
        description="Seconds the fake email takes (default: EMAIL_DELAY, 10). " + FITS,
        json_schema_extra=limits_stated,
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
        description="1 to 1000 addresses; addresses x delay at most {max_work:g} s. " + FITS,
        json_schema_extra=limits_stated,
    )
    delay: WorkSeconds = Field(default=0.1, description="Seconds each email takes.")

    @model_validator(mode="after")
    def fits_in_one_job(self) -> NewsletterRequest:
        work, settings = len(self.addresses) * self.delay, get_settings()
        if work > settings.max_work_seconds:
            raise ValueError(
                f"{len(self.addresses)} addresses at {self.delay:g} s each take {work:g} s,"
                f" more than a job may be asked to do ({settings.max_work_seconds:g} s:"
                f" {WORK_SHARE:.0%} of JOB_TIMEOUT={settings.job_timeout} s); send fewer"
                " addresses or a shorter delay"
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

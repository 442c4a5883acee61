"""PROVIDED: the API's error answers - their shape, and the handlers that write them.

Every error answer is JSON `{"detail": ...}`: a sentence, or (422 from FastAPI's checks of
a request) a list of problems, each with `loc` (where), `msg` (what) and `input` (what was
sent). The handlers here make sure such an answer can always be written and stays short:

- `invalid_request()`: FastAPI's 422, with each `input` made safe to send back (a NaN or an
  Infinity becomes a string; JSON allows neither) and cut to a short prefix;
- `job_unreadable()`: a job whose data this API cannot load (a class it cannot import, a
  damaged job in Redis) is answered 422 with what went wrong, not a 500 and a traceback;
- `redis_unavailable()`: Redis down or silent, or REDIS_URL unusable, is answered 503 with
  what to do (`unavailable_detail()`, which the dashboard's 503 page says too);
- `not_written()`: a TODO of yours not written yet is answered 501, naming it.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from redis.exceptions import AuthenticationError, RedisError

from lab.support.config import get_settings, hide_secrets, password_refused, safe_url
from lab.support.queueing.jobs import ECHO_CHARS, echo, unreadable_detail


class Problem(BaseModel):
    """One thing wrong with a request (FastAPI's validation)."""

    type: str = Field(examples=["finite_number"])
    loc: list[str | int] = Field(examples=[["body", "delay"]], description="Where: body > delay.")
    msg: str = Field(examples=["Input should be a finite number"])
    input: Any = Field(default=None, description=f"What was sent, cut to {ECHO_CHARS} characters.")
    ctx: dict[str, Any] | None = None


class ErrorAnswer(BaseModel):
    """Every error answer: `detail` says what went wrong, in a sentence or (a request that
    does not fit its model) as a list of problems."""

    detail: str | list[Problem]


def problem(error: dict[str, Any]) -> dict[str, Any]:
    """One of pydantic's errors, as sent back: its type, loc, msg, input and ctx, all short."""
    shown = {
        "type": str(error.get("type", "")),
        "loc": [p if isinstance(p, int) else echo(str(p)) for p in error.get("loc", ())],
        "msg": echo(str(error.get("msg", "")), 4 * ECHO_CHARS),
        "input": echo(error.get("input")),
    }
    if error.get("ctx"):
        shown["ctx"] = {str(key): echo(value) for key, value in error["ctx"].items()}
    return shown


async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422: the request does not fit the endpoint's parameters or body model."""
    return JSONResponse(status_code=422, content={"detail": [problem(e) for e in exc.errors()]})


async def job_unreadable(request: Request, exc: Exception) -> JSONResponse:
    """A job's data could not be loaded (rq's DeserializationError) or does not fit the
    answer's model (FastAPI's ResponseValidationError): 422 for a job endpoint, saying so."""
    job_id = request.path_params.get("job_id")
    if job_id is None:  # not about a job: a bug of the API itself
        detail = f"The API could not write its answer ({type(exc).__name__})."
        return JSONResponse(status_code=500, content={"detail": detail})
    return JSONResponse(status_code=422, content={"detail": unreadable_detail(job_id, exc)})


class BadRedisUrl(RedisError):
    """REDIS_URL cannot be used at all (a wrong scheme, port or option): answered 503."""


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


async def not_written(request: Request, exc: NotImplementedError) -> JSONResponse:
    """A TODO of yours not written yet: answer 501 with the stub's words, which name the
    function and its file, instead of a bare 500 and a traceback in the server's log."""
    return JSONResponse(status_code=501, content={"detail": f"{exc} (see its TODO)"})

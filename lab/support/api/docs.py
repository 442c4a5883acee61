"""PROVIDED: the error answers each endpoint documents in the OpenAPI schema (/docs).

`document_errors()` reads what a route takes (path, query and body parameters, the app's
queue, a job id) and adds the error statuses it may answer, with ErrorAnswer as their shape.
"""

from __future__ import annotations

from fastapi.routing import APIRoute

from lab.support.api.deps import email_queue, own_job_id
from lab.support.api.errors import ErrorAnswer

ERRORS = {
    400: "The body could not be read as JSON text (it is not UTF-8, say).",
    404: "No such job on this API's queues, or the path matches no endpoint (a / in a"
    " parameter, say).",
    409: "The job's status does not allow this; or a request with the same Idempotency-Key"
    " is still being handled (try again after Retry-After seconds).",
    413: "The request body is larger than MAX_BODY_BYTES.",
    431: "The request headers add up to more than MAX_HEADER_BYTES, or are more than 100.",
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
    codes = {413, 431}
    codes |= {503} if email_queue in calls else set()
    codes |= {422} if has["path"] or has["body"] or any(p.query_params for p in parts) else set()
    codes |= {400, 422} if has["body"] else set()
    codes |= {404} if has["path"] else set()
    codes |= {409, 422} if post and idempotent else set()
    if own_job_id in calls:
        codes |= {404, 409, 422} if post else {404, 422}
    for code in sorted(codes):
        route.responses.setdefault(code, {"model": ErrorAnswer, "description": ERRORS[code]})

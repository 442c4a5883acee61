"""PROVIDED: what an endpoint receives besides its request (FastAPI's dependencies).

- `EmailQueue`: the app's queue, made once per app with your `get_queue()` (app_queue()),
  whose jobs get JOB_TIMEOUT as their timeout and RQ_SERIALIZER as their serializer; an
  ApiQueue (lab/support/queueing/api_queue.py): JOB_RETRIES retries, one job per
  Idempotency-Key;
- `JobId`: the job id of a path, well-formed and the id of a job of this API's queues
  (served_queues()), which the API can load;
- `sibling_queue()`: another queue like the app's (step 08a's priorities, GET /stats).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Path, Request
from redis.exceptions import RedisError, ResponseError
from rq import Queue
from rq.exceptions import NoSuchJobError

from lab.support.api.errors import BadRedisUrl
from lab.support.api.models import PRIORITIES
from lab.support.config import get_settings, redis_url_problem
from lab.support.queueing.api_queue import ApiQueue
from lab.support.queueing.jobs import unreadable_detail
from lab.support.queueing.serializer import rq_serializer


def app_queue(app: FastAPI) -> Queue:
    """The queue of `app`: made with the app's `get_queue()` on first use, then kept, as an
    ApiQueue, with JOB_TIMEOUT as the timeout of the jobs queued on it and RQ_SERIALIZER as
    its serializer.

    A test may replace it with `app.dependency_overrides[email_queue]`; this function
    honours that too, for code outside FastAPI's dependency injection (the middleware)."""
    override = app.dependency_overrides.get(email_queue)
    if override is not None:
        return override()
    if app.state.queue is None:
        settings = get_settings()
        problem = redis_url_problem(settings.redis_url)
        if problem is not None:
            raise BadRedisUrl(problem)
        made = app.state.get_queue()
        # RQ_SERIALIZER, as every worker's, given to the constructor
        app.state.queue = sibling_queue(
            made, made.name, settings.job_timeout, ApiQueue, serializer=rq_serializer()
        )
    return app.state.queue


def email_queue(request: Request) -> Queue:
    """The queue of the app that received `request`."""
    return app_queue(request.app)


# An endpoint parameter of this type receives the app's queue (FastAPI dependency injection).
EmailQueue = Annotated[Queue, Depends(email_queue)]


def sibling_queue(
    queue: Queue,
    name: str,
    timeout: int | None = None,
    queue_class: type[Queue] | None = None,
    serializer: object = None,
) -> Queue:
    """A queue named `name`, otherwise like `queue`: same class (or `queue_class`),
    connection, job class, serializer (or `serializer`) and job timeout (or `timeout`)."""
    return (queue_class or type(queue))(
        name,
        connection=queue.connection,
        default_timeout=queue._default_timeout if timeout is None else timeout,
        is_async=queue.is_async,
        job_class=queue.job_class,
        serializer=queue.serializer if serializer is None else serializer,
        death_penalty_class=queue.death_penalty_class,
    )


def served_queues(queue: Queue) -> list[str]:
    """The queues whose jobs this API shows, retries and cancels: the app's queue, the
    priorities' queues (step 08a) and JOB_QUEUES."""
    extra = (*PRIORITIES, *get_settings().job_queues)
    return list(dict.fromkeys([queue.name, *(name for name in extra if name != "default")]))


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

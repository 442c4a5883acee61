"""Step 06 - YOUR FILE (lab/failures.py): retry and cancel a job, and an Idempotency-Key.

You write the bodies of retry_job() and cancel_job() (POST /jobs/{job_id}/retry and
/cancel), and claim_key() and remember_answer(), which the provided middleware
(lab/support/api/idempotency.py) calls for every POST that carries an Idempotency-Key header.
(Step 06 also has you write send_flaky_email() and record_failure() in lab/tasks.py.)
"""

from __future__ import annotations

import json

from fastapi import APIRouter, HTTPException
from redis import Redis
from rq.exceptions import InvalidJobOperation
from rq.job import JobStatus

from lab.support.api import EmailQueue, JobId, JobState
from lab.support.config import get_settings

from .status import describe_job, fetch_job

#: Where claim_key() and remember_answer() keep a key: IDEMPOTENCY_PREFIX + <key>.
IDEMPOTENCY_PREFIX = "workbook:idempotency:"

router = APIRouter()


@router.post("/jobs/{job_id}/retry", response_model=JobState)
def retry_job(job_id: JobId, queue: EmailQueue) -> dict:
    """Put a failed (or stopped) job back on its queue; 409 for a job in any other state."""
    job = fetch_job(job_id, queue.connection)
    # BEGIN SOLUTION: 409 unless the job failed or was stopped; else job.requeue()
    status = job.get_status()
    if status not in (JobStatus.FAILED, JobStatus.STOPPED):
        raise HTTPException(
            status_code=409,
            detail=f"Job {job_id} is {status.value}: only a failed or stopped job can be retried.",
        )
    try:
        job.requeue()
    except InvalidJobOperation as exc:  # another request requeued it first
        raise HTTPException(status_code=409, detail=f"Job {job_id}: {exc}") from None
    # END SOLUTION
    return describe_job(fetch_job(job_id, queue.connection))  # its state now


@router.post("/jobs/{job_id}/cancel", response_model=JobState)
def cancel_job(job_id: JobId, queue: EmailQueue) -> dict:
    """Cancel a job that has not started; 409 for one that started or ended."""
    job = fetch_job(job_id, queue.connection)
    # BEGIN SOLUTION: 409 unless queued, scheduled or deferred; else job.cancel()
    status = job.get_status()
    if status not in (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED):
        raise HTTPException(
            status_code=409,
            detail=f"Job {job_id} is {status.value}: only a job that has not started"
            " (queued, scheduled or deferred) can be canceled.",
        )
    job.cancel()
    # END SOLUTION
    return describe_job(fetch_job(job_id, queue.connection))  # its state now


def claim_key(connection: Redis, key: str, fingerprint: str) -> dict | None:
    """Claim the Idempotency-Key `key` for a request whose body hashes to `fingerprint`.

    Returns None when the key is new: this request goes ahead. Returns what is stored
    under the key when an earlier request claimed it: {"fingerprint": ...}, plus "status"
    and "body" once that request was answered (remember_answer).

    The claim expires after IDEMPOTENCY_CLAIM_TTL seconds (30), not a day: if Redis goes
    away before the answer is stored, repeats of the key wait at most that long.
    """
    # BEGIN SOLUTION: SET {"fingerprint": ...} with nx=True (atomic) and the claim's TTL
    redis_key = IDEMPOTENCY_PREFIX + key
    claim = json.dumps({"fingerprint": fingerprint})
    if connection.set(redis_key, claim, nx=True, ex=get_settings().idempotency_claim_ttl):
        return None
    stored = connection.get(redis_key)
    return json.loads(stored) if stored is not None else None
    # END SOLUTION


def remember_answer(
    connection: Redis, key: str, fingerprint: str, status: int, body: str | None
) -> None:
    """Store the answer to the request that claimed `key`, for repeats to get it again.

    body=None means the request failed: forget the key, so the client can try again.
    The answer is kept IDEMPOTENCY_TTL seconds (a day).
    """
    # BEGIN SOLUTION: SET the fingerprint, status and body for IDEMPOTENCY_TTL, or DEL the key
    redis_key = IDEMPOTENCY_PREFIX + key
    if body is None:
        connection.delete(redis_key)
        return
    answer = {"fingerprint": fingerprint, "status": status, "body": body}
    connection.set(redis_key, json.dumps(answer), ex=get_settings().idempotency_ttl)
    # END SOLUTION

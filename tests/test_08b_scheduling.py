"""Step 08b: lab/scheduling.py (schedule_email), `send_at`/`send_in` of POST /emails, and
`python -m lab.worker --with-scheduler` that queues a scheduled email when its time comes,
run as real processes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import pytest
from rq import Queue
from rq.job import Job

from lab.support.api import SCHEDULED_MESSAGE, EmailRequest
from lab.support.course.helpers import unexpected
from lab.support.queueing.jobs import job_outcome, wait_for_status
from lab.support.servers.processes import Background, last_line, start_worker

ADDRESS = "user@example.com"
#: A time zone that is not UTC, to see that a send_at keeps its instant, not its clock time.
KOLKATA = timezone(timedelta(hours=5, minutes=30))


def now() -> datetime:
    return datetime.now(timezone.utc)


def due_time(job: Job) -> datetime:
    """When the ScheduledJobRegistry of the job's queue says the job is due."""
    queue = Queue(job.origin, connection=job.connection)
    return queue.scheduled_job_registry.get_scheduled_time(job)


def seconds_until(due: datetime, most: float = 1.5) -> float:
    """Seconds until `due`, a due time at most `most` seconds ahead: a job scheduled for far
    later fails the test at once instead of holding it up."""
    ahead = (due - now()).total_seconds()
    assert ahead <= most, (
        f"the job is due in {ahead:.1f} s, not in at most {most:g} s: a job scheduled with"
        " send_in=S is due S seconds from now"
    )
    return max(0.0, ahead)


def assert_scheduled(job: object, queue: Queue) -> None:
    """`job` is a job waiting, scheduled, in the ScheduledJobRegistry of `queue`."""
    assert isinstance(job, Job), f"schedule_email() returned {job!r}, not the job"
    status = job.get_status(refresh=True)
    assert status == "scheduled", (
        f"the job is {status!r}, not 'scheduled': queue.enqueue_at() or enqueue_in() schedule"
        " it; enqueue() queues it at once"
    )
    assert job.id in queue.scheduled_job_registry, (
        f"the job is not in the ScheduledJobRegistry of the queue {queue.name!r}"
    )
    assert queue.count == 0, f"the queue {queue.name!r} holds {queue.count} job(s) already"


# --- schedule_email ------------------------------------------------------------------------


def test_schedule_email_with_send_in_is_due_that_many_seconds_from_now(scheduling, queue, tasks):
    """schedule_email() with send_in=90 schedules send_fake_email(email, delay) due in 90 s."""
    body = EmailRequest(email=ADDRESS, delay=0.5, send_in=90.0)
    before = now()
    job = scheduling.schedule_email(queue, body)
    after = now()
    assert_scheduled(job, queue)
    due = due_time(job)
    # RQ keeps whole seconds: a due time up to 1 s before the exact one is RQ's rounding.
    earliest, latest = before + timedelta(seconds=89), after + timedelta(seconds=90)
    assert earliest <= due <= latest, (
        f"with send_in=90 the job is due {(due - before).total_seconds():.1f} s from now, not"
        " 90 s: enqueue_in(timedelta(seconds=body.send_in), ...)"
    )
    assert job.func_name == f"{tasks.__name__}.send_fake_email", f"the job runs {job.func_name}"
    assert job.args == (ADDRESS, 0.5), (
        f"the job's arguments are {job.args}, not (email, delay): pass body.email, body.delay"
    )


def test_schedule_email_with_send_at_is_due_at_that_time(scheduling, queue):
    """schedule_email() with send_at (in any time zone) schedules the job due at that instant.

    A send_at of 09:00 at +05:30 is due at 03:30 UTC."""
    send_at = (now() + timedelta(days=2)).astimezone(KOLKATA).replace(microsecond=0)
    job = scheduling.schedule_email(queue, EmailRequest(email=ADDRESS, delay=0, send_at=send_at))
    assert_scheduled(job, queue)
    due = due_time(job)
    assert due == send_at, (
        f"send_at {send_at.isoformat()} is due {due.isoformat()}, not"
        f" {send_at.astimezone(timezone.utc).isoformat()}: queue.enqueue_at(body.send_at, ...)"
        " with the time as given, zone included"
    )
    assert job.args == (ADDRESS, 0), f"the job's arguments are {job.args}, not (email, delay)"


def test_schedule_email_schedules_on_the_queue_it_is_given(scheduling, redis_conn, queue):
    """schedule_email(queue, ...) schedules on `queue` (the priority's queue), not on another."""
    high = Queue("high", connection=redis_conn)
    job = scheduling.schedule_email(high, EmailRequest(email=ADDRESS, send_in=60.0))
    assert isinstance(job, Job), f"schedule_email() returned {job!r}, not the job"
    assert job.origin == "high", f"the job is scheduled on {job.origin!r}, not on the queue given"
    assert_scheduled(job, high)
    assert job.id not in queue.scheduled_job_registry, "the job is scheduled on 'default' too"


# --- POST /emails with send_at or send_in, GET /jobs/{id} --------------------------------------


def test_post_emails_with_send_in_is_scheduled_and_get_says_when(client, queue):
    """POST /emails with send_in answers 202 with SCHEDULED_MESSAGE and when (scheduled_for).

    GET /jobs/{id} then says scheduled, when (scheduled_for) and why it waits."""
    before = now()
    response = client.post("/emails", json={"email": ADDRESS, "delay": 0, "send_in": 60})
    assert response.status_code == 202, unexpected(response, 202)
    answer = response.json()
    assert answer["message"] == SCHEDULED_MESSAGE, f"the message is {answer['message']!r}"
    assert queue.count == 0, f"the email was queued at once: the queue holds {queue.count} job(s)"
    scheduled_for = datetime.fromisoformat(answer["scheduled_for"])
    ahead = (scheduled_for - before).total_seconds()
    assert 59 <= ahead <= 61, f"with send_in=60 the answer's scheduled_for is {ahead:.1f} s ahead"
    state = client.get(f"/jobs/{answer['job_id']}")
    assert state.status_code == 200, unexpected(state, 200)
    state = state.json()
    assert state["status"] == "scheduled", f"GET /jobs/{{id}} says {state['status']!r}"
    assert datetime.fromisoformat(state["scheduled_for"]) == scheduled_for, (
        f"GET says scheduled_for {state['scheduled_for']}, POST said {answer['scheduled_for']}"
    )
    assert "--with-scheduler" in (state["why"] or ""), f"`why` is {state['why']!r}"
    assert state["queue"] == queue.name


def test_post_emails_with_send_at_and_a_priority(client, redis_conn):
    """POST /emails with send_at and priority low schedules on low, due at send_at.

    GET /jobs/{id} finds it on low, scheduled."""
    send_at = (now() + timedelta(hours=3)).astimezone(KOLKATA).replace(microsecond=0)
    body = {"email": ADDRESS, "delay": 0, "priority": "low", "send_at": send_at.isoformat()}
    response = client.post("/emails", json=body)
    assert response.status_code == 202, unexpected(response, 202)
    answer = response.json()
    assert datetime.fromisoformat(answer["scheduled_for"]) == send_at, (
        f"send_at {send_at.isoformat()} answered scheduled_for {answer['scheduled_for']}"
    )
    low = Queue("low", connection=redis_conn)
    assert answer["job_id"] in low.scheduled_job_registry, (
        "the email is not scheduled on the queue 'low': schedule it on the queue given"
    )
    state = client.get(f"/jobs/{answer['job_id']}").json()
    assert (state["status"], state["queue"]) == ("scheduled", "low"), f"GET answered {state}"


#: Bodies that POST /emails refuses: (what, the JSON text of the body's extra fields, a name
#: the 422 must give, words its message must hold).
BAD_TIMES = [
    ("send_at in the past", '"send_at": "2001-01-01T09:00:00Z"', "send_at", "in the past"),
    ("send_at without a zone", '"send_at": "2030-01-01T09:00:00"', "send_at", "timezone"),
    ("send_at not a date", '"send_at": "next tuesday"', "send_at", ""),
    ("send_at past 9999 in UTC", '"send_at": "9999-12-31T23:59:59-23:59"', "send_at", "9999"),
    (
        "both send_at and send_in",
        '"send_at": "2030-01-01T09:00:00Z", "send_in": 10',
        "send_in",
        "not both",
    ),
    ("send_in 0", '"send_in": 0', "send_in", ""),
    ("send_in negative", '"send_in": -5', "send_in", ""),
    ("send_in NaN", '"send_in": NaN', "send_in", "finite"),
    ("send_in Infinity", '"send_in": Infinity', "send_in", "finite"),
    ("send_in a string", '"send_in": "10"', "send_in", ""),
    ("send_in 1e308", '"send_in": 1e308', "send_in", ""),
    ("send_in true", '"send_in": true', "send_in", ""),
]


JSON = {"Content-Type": "application/json"}


def test_post_emails_refuses_a_bad_send_at_or_send_in_with_422(client, redis_conn, queue):
    """POST /emails refuses each bad send_at or send_in with a JSON 422 naming it, never a 500.

    Nothing is scheduled; a good send_in next to them is."""
    for what, fields, name, words in BAD_TIMES:
        body = f'{{"email": "{ADDRESS}", "delay": 0, {fields}}}'
        response = client.post(
            "/emails", content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 422, f"{what}: {unexpected(response, 422)}"
        detail = response.json()["detail"]
        said = json.dumps([[problem.get("loc"), problem.get("msg")] for problem in detail])
        assert name in said and words in said, (
            f"{what}: the 422 says {said}, which does not name {name!r}"
            + (f" with {words!r}" if words else "")
        )
    scheduled = queue.scheduled_job_registry.get_job_ids()
    assert scheduled == [] and queue.count == 0, (
        f"refused requests left {len(scheduled)} job(s) scheduled, {queue.count} queued"
    )
    response = client.post("/emails", json={"email": ADDRESS, "delay": 0, "send_in": 0.5})
    assert response.status_code == 202, unexpected(response, 202)
    scheduled = queue.scheduled_job_registry.get_job_ids()
    assert scheduled == [response.json()["job_id"]], (
        f"a good send_in=0.5 left the scheduled jobs {scheduled}, not just its job"
    )


# --- real worker processes -------------------------------------------------------------------

#: The longest a job may start after its due time: RQ's scheduler looks every second.
LATENESS_LIMIT = 3.0


@pytest.mark.e2e
def test_a_worker_without_the_scheduler_leaves_a_scheduled_email_waiting(impl, scheduling, queue):
    """A worker started without --with-scheduler never runs a job scheduled in 1 s.

    Still scheduled 1.5 s after it was due (the scheduler looks every second), the worker
    listening all along."""
    job = scheduling.schedule_email(queue, EmailRequest(email=ADDRESS, delay=0, send_in=1.0))
    assert_scheduled(job, queue)
    due = due_time(job)
    with start_worker(package=impl) as worker:
        # Nothing to poll for: what is checked is that nothing happens, past the due time.
        time.sleep(seconds_until(due) + 1.5)
        status = job.get_status(refresh=True)
        assert worker.running, f"the worker exited: {last_line(worker.output())}"
        worker.kill()
    assert status == "scheduled", (
        f"a worker without --with-scheduler ran the job: it is {job_outcome(job)} (only a"
        " worker with the scheduler moves a scheduled job onto its queue)"
    )
    assert job.id in queue.scheduled_job_registry, "the job left the ScheduledJobRegistry"


@contextmanager
def worker_with_scheduler(impl: str) -> Iterator[Background]:
    """`python -m <impl>.worker --with-scheduler`, killed with its process group at the end,
    however the test ends: a worker stopped (SIGTERM) just as it starts can leave its
    scheduler process behind, which would go on queueing the jobs of later tests."""
    worker = start_worker("--with-scheduler", package=impl)
    try:
        yield worker
    finally:
        worker.kill()  # also what a graceful stop would wait for: the scheduler's 1 s tick
        worker.log_path.unlink(missing_ok=True)


@pytest.mark.e2e
def test_a_worker_with_the_scheduler_sends_a_scheduled_email_on_time(impl, client, queue, receipt):
    """A worker started with --with-scheduler runs an email POSTed with send_in=1 when it is due.

    It starts less than LATENESS_LIMIT (3 s) after its due time, never before."""
    with worker_with_scheduler(impl):
        response = client.post("/emails", json={"email": ADDRESS, "delay": 0, "send_in": 1})
        assert response.status_code == 202, unexpected(response, 202)
        job = Job.fetch(response.json()["job_id"], connection=queue.connection)
        due = datetime.fromisoformat(response.json()["scheduled_for"])
        try:
            status = wait_for_status(job, timeout=seconds_until(due) + LATENESS_LIMIT + 1)
        except TimeoutError:
            status = job_outcome(job)
    assert status == "finished", (
        f"{LATENESS_LIMIT + 1:g} s after its due time the scheduled job is {job_outcome(job)}"
    )
    assert job.return_value() == receipt(ADDRESS)
    job.refresh()
    late = (job.started_at - due).total_seconds()
    assert 0 <= late < LATENESS_LIMIT, (
        f"the job started {late:.2f} s after its due time {due.isoformat()}: expected 0 to"
        f" {LATENESS_LIMIT:g} s"
    )


@pytest.mark.e2e
def test_a_canceled_scheduled_email_is_never_sent(impl, client, queue):
    """POST /jobs/{id}/cancel of a scheduled email answers 200 canceled; it never runs.

    It leaves the ScheduledJobRegistry; a worker --with-scheduler runs another email due at
    the same time, not this one."""
    ids = []
    for _ in range(2):
        response = client.post("/emails", json={"email": ADDRESS, "delay": 0, "send_in": 0.2})
        assert response.status_code == 202, unexpected(response, 202)
        ids.append(response.json()["job_id"])
    canceled, other = (Job.fetch(i, connection=queue.connection) for i in ids)
    response = client.post(f"/jobs/{canceled.id}/cancel")
    assert response.status_code == 200, unexpected(response, 200)
    assert response.json()["status"] == "canceled", f"cancel answered {response.json()}"
    assert canceled.id not in queue.scheduled_job_registry, (
        "the canceled job is still in the ScheduledJobRegistry: the scheduler would queue it"
    )
    assert client.get(f"/jobs/{canceled.id}").json()["status"] == "canceled"
    # Both are due now: the scheduler of a --burst worker queues, once, the jobs then due.
    time.sleep(seconds_until(due_time(other)) + 0.05)
    with start_worker("--with-scheduler", "--burst", package=impl) as worker:
        code = worker.wait(30)
        output = worker.output()
    assert code == 0, f"the worker exited {code}: {last_line(output)}\n{output[-2000:]}"
    assert other.get_status(refresh=True) == "finished", (
        f"the email that was not canceled ended {job_outcome(other)}"
    )
    canceled.refresh()
    assert canceled.get_status() == "canceled" and canceled.started_at is None, (
        f"the canceled email ran: it is {job_outcome(canceled)}"
    )


def test_a_scheduled_email_with_redis_down_is_503(api_client, closed_port):
    """With Redis down, POST /emails with send_in answers 503 JSON saying what to do, not 500."""
    down = api_client(f"redis://127.0.0.1:{closed_port}/0")
    response = down.post("/emails", json={"email": "user@example.com", "send_in": 5})
    assert response.status_code == 503, unexpected(response, 503)
    assert "python -m lab redis start" in response.json()["detail"], response.text[:300]

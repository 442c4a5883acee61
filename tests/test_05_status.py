"""Step 05: GET /jobs/{job_id} in lab/status.py and send_newsletter in lab/tasks.py."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest
from rq import Queue, Retry
from rq.command import send_stop_job_command
from rq.job import JobStatus

from lab.support.config import get_settings
from lab.support.course.helpers import follow
from lab.support.servers.processes import poll, start_api, start_worker

UNKNOWN = "0123456789abcdef0123456789abcdef"


def test_a_queued_job_and_its_place_in_the_line(client, impl):
    """describe_job() of a queued job gives its status, its place in line (0: next) and task.

    Its enqueued_at is set; the times and results to come are None."""
    first = client.post("/emails", json={"email": "a@example.com", "delay": 0}).json()
    second = client.post("/emails", json={"email": "b@example.com", "delay": 0}).json()
    response = client.get(f"/jobs/{second['job_id']}")
    assert response.status_code == 200, f"answered {response.status_code}: {response.text[:300]}"
    state = response.json()
    assert state["id"] == second["job_id"]
    assert state["status"] == "queued", f"a queued job's status is {state['status']!r}"
    assert state["position"] == 1, (
        f"the second job queued has position {state['position']}, not 1: job.get_position()"
    )
    position = client.get(f"/jobs/{first['job_id']}").json()["position"]
    assert position == 0, f"the first job queued has position {position}, not 0"
    assert state["task"] == f"{impl}.tasks.send_fake_email"
    assert datetime.fromisoformat(state["enqueued_at"])
    assert state["started_at"] is None and state["ended_at"] is None
    assert state["result"] is None and state["error"] is None


def test_a_finished_job_has_its_result_and_times(client, queue, run_queued_jobs, receipt):
    """describe_job() of a finished job gives its result, no position, and its three times."""
    job_id = client.post("/emails", json={"email": "user@example.com", "delay": 0}).json()["job_id"]
    run_queued_jobs(queue)
    state = client.get(f"/jobs/{job_id}").json()
    assert state["status"] == "finished", f"GET /jobs/{{id}} answered {state}"
    assert state["result"] == receipt(), f"the result is {state['result']!r}: job.return_value()"
    assert state["position"] is None, (
        f"a finished job has position {state['position']!r}, not None: only a queued job has one"
    )
    times = [datetime.fromisoformat(state[k]) for k in ("enqueued_at", "started_at", "ended_at")]
    assert times == sorted(times), f"enqueued_at, started_at, ended_at are {times}: out of order"


def test_a_failed_job_says_why_and_shows_the_traceback_only_on_request(
    client, queue, tasks, run_queued_jobs
):
    """describe_job() of a failed job gives its error's last line, its progress, and the
    traceback only for ?traceback=1.

    Its progress is what send_newsletter() saved in job.meta before the bad address."""
    job = queue.enqueue(tasks.send_newsletter, ["a@example.com", "bob"], 0)
    run_queued_jobs(queue)
    state = client.get(f"/jobs/{job.id}").json()
    assert state["status"] == "failed", f"the newsletter to 'bob' ended {state['status']!r}"
    assert state["error"] == "ValueError: not an email address: 'bob'", (
        f"the error is {state['error']!r}: the last line of job.latest_result().exc_string"
    )
    assert state["traceback"] is None, "the traceback is shown without ?traceback=1"
    assert state["result"] is None
    assert state["progress"] == {"done": 1, "total": 2}, (  # how far it got
        f"progress is {state['progress']}: send_newsletter() saves job.meta after each address"
    )
    detailed = client.get(f"/jobs/{job.id}", params={"traceback": 1}).json()
    assert detailed["traceback"].startswith("Traceback")
    assert "send_newsletter" in detailed["traceback"]


def test_deferred_scheduled_and_canceled_are_reported(client, queue, tasks):
    """describe_job() reports RQ's statuses deferred, scheduled and canceled as they are."""
    first = queue.enqueue(tasks.send_fake_email, "a@example.com", 0)
    after = queue.enqueue(tasks.send_fake_email, "b@example.com", 0, depends_on=first)
    later = queue.enqueue_in(timedelta(minutes=5), tasks.send_fake_email)
    dropped = queue.enqueue(tasks.send_fake_email, "c@example.com", 0)
    dropped.cancel()
    statuses = {job.id: client.get(f"/jobs/{job.id}").json()["status"] for job in (after, later)}
    assert statuses == {after.id: "deferred", later.id: "scheduled"}
    assert client.get(f"/jobs/{dropped.id}").json()["status"] == "canceled"


@pytest.mark.parametrize("job_id", [UNKNOWN, "no-such-job"], ids=["well-formed", "custom-looking"])
def test_an_unknown_job_is_404_with_a_reason(client, job_id):
    """fetch_job() of an unknown id raises HTTPException(404) with a detail that names the id
    and RESULT_TTL. The wording is the learner's."""
    response = client.get(f"/jobs/{job_id}")
    assert response.status_code == 404, (
        f"GET /jobs/<unknown id> answered {response.status_code}, not 404: turn rq's"
        f" NoSuchJobError into HTTPException(404): {response.text[:300]}"
    )
    detail = response.json()["detail"]
    assert job_id in detail and "RESULT_TTL" in detail, (
        f"the 404 detail should name the id {job_id!r} and RESULT_TTL (why a job may be"
        f" gone); it says {detail!r}"
    )


@pytest.mark.parametrize(
    "job_id",
    ["a b", "x" * 300, "%00", "job;drop", "rq:job:1"],
    ids=["space", "too-long", "nul", "semicolon", "colon"],
)
def test_a_malformed_id_is_404_or_422_never_500(client, job_id):
    """GET /jobs/{job_id} with a malformed id answers 404 or 422 in JSON, never 500."""
    response = client.get(f"/jobs/{job_id}")
    assert response.status_code in (404, 422), (
        f"answered {response.status_code}: {response.text[:300]}"
    )
    assert response.headers["content-type"] == "application/json"
    assert "detail" in response.json()


def test_send_newsletter_outside_a_worker_sends_each_and_counts(tasks, caplog):
    """send_newsletter() outside a worker sends each address and returns {"sent": n}.

    An item without '@' raises ValueError."""
    caplog.set_level("INFO")
    assert tasks.send_newsletter(["a@example.com", "b@example.com"], 0) == {"sent": 2}
    assert "Email sent to b@example.com" in caplog.text, (
        f"no email was sent to b@example.com (call send_fake_email() for each): {caplog.text!r}"
    )
    with pytest.raises(ValueError, match="not an email address: 'oops'"):
        tasks.send_newsletter(["a@example.com", "oops"], 0)


def test_post_newsletters_queues_one_job_and_refuses_bad_lists(client, queue, impl):
    """POST /newsletters queues one send_newsletter() job and refuses bad lists with 422."""
    response = client.post("/newsletters", json={"addresses": ["a@example.com"], "delay": 0})
    assert response.status_code == 202, f"answered {response.status_code}: {response.text[:300]}"
    assert queue.job_ids == [response.json()["job_id"]], f"the queue holds {queue.job_ids}"
    for body in ({"addresses": []}, {"addresses": ["a@example.com", "bob"]}, {"addresses": "x"}):
        assert client.post("/newsletters", json=body).status_code == 422, f"{body} was not 422"
    assert queue.count == 1, f"the queue holds {queue.count} jobs, not 1"


@pytest.mark.e2e
def test_end_to_end_progress_climbs_until_finished(impl, redis_conn):
    """While a real worker runs send_newsletter(), GET /jobs/{id} shows its progress climb.

    It saves job.meta["progress"] with job.save_meta() after each address, up to 5 of 5."""
    addresses = [f"user{i}@example.com" for i in range(5)]
    with start_api(package=impl) as api, start_worker("--simple", package=impl):
        with httpx.Client(base_url=api.url, timeout=5) as http:
            body = {"addresses": addresses, "delay": 0.2}
            job_id = http.post("/newsletters", json=body).json()["job_id"]
            seen = follow(http, job_id, api=api)
    done = [s["progress"]["done"] for s in seen if s["progress"]]
    assert done == sorted(done), f"progress went down: {done}"
    assert any(0 < d < 5 for d in done), f"no progress seen while it ran: {done}"
    assert seen[-1]["status"] == "finished", f"the newsletter ended {seen[-1]}"
    assert seen[-1]["progress"] == {"done": 5, "total": 5}, f"the end: {seen[-1]['progress']}"
    assert seen[-1]["result"] == {"sent": 5}, f"the result is {seen[-1]['result']}"
    assert "started" in {s["status"] for s in seen}


@pytest.mark.e2e
def test_end_to_end_a_stopped_job(impl, tasks, queue):
    """A forking worker stops a running job on command: the API reports `stopped`."""
    with start_api(package=impl) as api, start_worker(package=impl):
        with httpx.Client(base_url=api.url, timeout=5) as http:
            job = queue.enqueue(tasks.send_fake_email, "user@example.com", 30)
            follow(http, job.id, until=("started",), api=api)
            send_stop_job_command(queue.connection, job.id)
            state = follow(http, job.id, until=("stopped", "failed", "finished"), api=api)[-1]
    assert state["status"] == "stopped", f"GET /jobs/{{id}} of the stopped job answered {state}"
    assert state["result"] is None
    assert state["error"] and "stopped" in state["error"].lower(), (
        f"a stopped job's error is {state['error']!r}: report the last line of"
        " latest_result().exc_string for a stopped job too, not only a failed one"
    )


@pytest.mark.e2e
def test_end_to_end_results_expire_after_result_ttl(impl, redis_conn, receipt):
    """With RESULT_TTL=1, GET /jobs/{id} of a job that finished over 1 s ago answers 404
    naming RESULT_TTL."""
    env = {"RESULT_TTL": "1"}
    with start_api(package=impl, env=env) as api, start_worker(package=impl, env=env):
        with httpx.Client(base_url=api.url, timeout=5) as http:
            body = {"email": "user@example.com", "delay": 0}
            job_id = http.post("/emails", json=body).json()["job_id"]
            assert follow(http, job_id, until=("finished",), api=api)[-1]["result"] == receipt()
            answers = poll(
                lambda: http.get(f"/jobs/{job_id}"),
                lambda answer: answer.status_code != 200,
                "its result to expire (RESULT_TTL=1)",
                timeout=3,
            )
            response = answers[-1]
    assert response.status_code == 404, (
        f"once the job's result expired (RESULT_TTL=1), GET /jobs/{{id}} answered"
        f" {response.status_code}: {response.text[:300]}"
    )
    assert "RESULT_TTL" in response.json()["detail"], f"the detail: {response.json()['detail']}"


def test_get_job_with_redis_down_is_503_not_404(api_client, closed_port):
    """fetch_job() turns only NoSuchJobError into 404: Redis down stays a 503."""
    response = api_client(f"redis://127.0.0.1:{closed_port}/0").get("/jobs/some-job")
    assert response.status_code == 503, (
        f"GET /jobs/some-job with Redis down answered {response.status_code}: in fetch_job()"
        " catch only NoSuchJobError; a Redis error must reach the app's 503 handler"
    )


def test_retries_left_is_reported(client, queue, tasks):
    """GET /jobs/{id} reports retries_left, job.retries_left, for a job queued with a Retry."""
    job = queue.enqueue(tasks.send_fake_email, "a@example.com", 0, retry=Retry(max=3))
    left = client.get(f"/jobs/{job.id}").json()["retries_left"]
    assert left == 3, f"retries_left is {left!r} for a job queued with Retry(max=3)"


def test_describe_job_reports_the_status_fetched_with_the_job(status, queue, tasks):
    """describe_job() reports the status fetched with the job: get_status(refresh=False)."""
    job = queue.enqueue(tasks.send_fake_email, "a@example.com", 0)
    fetched = status.fetch_job(job.id, queue.connection)
    job.set_status(JobStatus.STARTED)  # changes in Redis after the fetch
    state = status.describe_job(fetched)
    assert state["status"] == "queued", (
        f"describe_job() said {state['status']!r}, not the status fetched with the job:"
        " use job.get_status(refresh=False), so that every field describes one moment"
    )


def test_send_newsletter_checks_sends_then_saves_progress(tasks, monkeypatch):
    """send_newsletter() checks each address, sends it, then saves the progress, in that order."""
    events = []

    class FakeJob:
        meta: dict = {}

        def save_meta(self):
            events.append(("save", dict(self.meta["progress"])))

    monkeypatch.setattr(tasks, "get_current_job", lambda: FakeJob())
    monkeypatch.setattr(
        tasks, "send_fake_email", lambda address, delay=None: events.append(("send", address))
    )
    with pytest.raises(ValueError, match="not an email address: 'oops'"):
        tasks.send_newsletter(["a@example.com", "b@example.com", "oops"], 0)
    expected = [
        ("send", "a@example.com"),
        ("save", {"done": 1, "total": 3}),
        ("send", "b@example.com"),
        ("save", {"done": 2, "total": 3}),
    ]
    assert events == expected, (
        f"send_newsletter did {events}; expected {expected}: for each address check it,"
        " send it, then save the progress"
    )


@pytest.mark.parametrize("serializer", ["json", "pickle"])
def test_fetch_job_loads_with_the_serializer_setting(
    status, redis_conn, tasks, monkeypatch, serializer
):
    """fetch_job() loads the job with the serializer setting, RQ_SERIALIZER (json or pickle).

    That is the serializer the API's queue writes with and the workers read with: a JSON
    job's task, arguments and progress read back."""
    monkeypatch.setenv("RQ_SERIALIZER", serializer)
    get_settings.cache_clear()
    queue = Queue("default", connection=redis_conn, serializer=serializer)
    job = queue.enqueue(tasks.send_fake_email, "a@example.com", 0, meta={"progress": {"done": 1}})
    fetched = status.fetch_job(job.id, redis_conn)
    assert fetched.serializer is queue.serializer, (
        f"fetch_job() loaded the job with {fetched.serializer.__name__}, not with the"
        f" RQ_SERIALIZER setting ({serializer}): pass serializer=get_settings().serializer"
    )
    assert fetched.func_name.endswith("tasks.send_fake_email")
    assert fetched.args == ["a@example.com", 0] or fetched.args == ("a@example.com", 0)
    assert fetched.meta == {"progress": {"done": 1}}

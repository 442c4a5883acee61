"""Step 08a: lab/priorities.py (queue_for), the `priority` of POST /emails, and a worker
that serves the queues most urgent first (or in turn, with --dequeue-strategy round_robin),
run as real processes."""

from __future__ import annotations

import pytest
from rq import Queue
from rq.job import Job
from rq.serializers import JSONSerializer

from lab.support.course.helpers import unexpected
from lab.support.queueing.jobs import job_outcome
from lab.support.servers.processes import last_line, start_worker

ADDRESS = "user@example.com"


class OwnJob(Job):
    """A job class of its own, to see that queue_for() keeps the queue's."""


# --- queue_for ----------------------------------------------------------------------------


def test_queue_for_default_is_the_queue_itself(priorities, redis_conn):
    """queue_for(queue, "default") returns `queue` itself, whatever its name (QUEUE_NAME)."""
    for name in ("default", "emails"):
        queue = Queue(name, connection=redis_conn)
        got = priorities.queue_for(queue, "default")
        assert got is queue, (
            f"queue_for(<queue {name!r}>, 'default') returned"
            f" {f'a queue named {got.name!r}' if isinstance(got, Queue) else repr(got)}:"
            " return the queue it is given, the app's queue"
        )


@pytest.mark.parametrize("priority", ["high", "low"])
def test_queue_for_high_or_low_is_a_queue_of_that_name_like_the_given_one(
    priorities, redis_conn, priority
):
    """queue_for(queue, "high"/"low") is a queue of that name with queue's connection and setup.

    The same connection, job timeout (default_timeout), serializer and job class:
    sibling_queue(queue, priority)."""
    queue = Queue(
        "emails",
        connection=redis_conn,
        default_timeout=77,
        serializer=JSONSerializer,
        job_class=OwnJob,
    )
    got = priorities.queue_for(queue, priority)
    assert isinstance(got, Queue), f"queue_for(queue, {priority!r}) returned {got!r}"
    assert got.name == priority, f"queue_for(queue, {priority!r}) is named {got.name!r}"
    assert got.connection is redis_conn, (
        "the queue is on another connection: use the given queue's (queue.connection)"
    )
    job = got.enqueue(len, "abc")
    assert job.timeout == 77, (
        f"a job queued on it gets a timeout of {job.timeout} s, not the given queue's 77 s"
        " (its default_timeout, JOB_TIMEOUT in the API): make it with sibling_queue()"
    )
    assert got.serializer is queue.serializer, "the queue has another serializer than the given one"
    assert got.job_class is OwnJob, f"the queue's job class is {got.job_class.__name__}, not OwnJob"
    assert job.origin == priority, f"a job queued on it lands on {job.origin!r}"


@pytest.mark.parametrize("priority", ["urgent", "HIGH", "", None])
def test_queue_for_an_unknown_priority_raises_value_error(priorities, redis_conn, priority):
    """queue_for() raises ValueError for a priority other than high, default or low."""
    queue = Queue("default", connection=redis_conn)
    with pytest.raises(ValueError):
        priorities.queue_for(queue, priority)


# --- POST /emails with a priority, GET /jobs/{id} ----------------------------------------------


def test_post_emails_puts_each_priority_on_its_queue(client, redis_conn, queue):
    """POST /emails with priority high, default or low answers 202 and queues on that queue.

    GET /jobs/{id} finds the job, on whichever queue, and says which (`queue`)."""
    for priority, expected in (("high", "high"), ("low", "low"), ("default", queue.name)):
        body = {"email": ADDRESS, "delay": 0, "priority": priority}
        response = client.post("/emails", json=body)
        assert response.status_code == 202, unexpected(response, 202)
        job_id = response.json()["job_id"]
        job = Job.fetch(job_id, connection=redis_conn)
        assert job.origin == expected, (
            f"priority {priority!r} put the job on the queue {job.origin!r}, not {expected!r}"
        )
        waiting = Queue(expected, connection=redis_conn).job_ids
        assert waiting == [job_id], f"the queue {expected!r} holds {waiting}, not just the job"
        state = client.get(f"/jobs/{job_id}")
        assert state.status_code == 200, unexpected(state, 200)
        assert (state.json()["status"], state.json()["queue"]) == ("queued", expected), (
            f"GET /jobs/{{id}} of a {priority} email answered {state.json()}"
        )


@pytest.mark.parametrize("priority", ["urgent", 1, None], ids=["urgent", "number", "null"])
def test_post_emails_with_a_bad_priority_is_422_and_queues_nothing(client, redis_conn, priority):
    """POST /emails with a priority other than high/default/low answers 422 naming `priority`.

    Nothing is queued; the same body with priority "low" is queued on low."""
    body = {"email": ADDRESS, "delay": 0, "priority": priority}
    response = client.post("/emails", json=body)
    assert response.status_code == 422, unexpected(response, 422)
    locs = [problem.get("loc") for problem in response.json()["detail"]]
    assert ["body", "priority"] in locs, f"the 422 names {locs}, not ['body', 'priority']"
    queued = {name: Queue(name, connection=redis_conn).count for name in ("high", "default", "low")}
    assert sum(queued.values()) == 0, f"a refused request queued jobs: {queued}"
    response = client.post("/emails", json={**body, "priority": "low"})
    assert response.status_code == 202, unexpected(response, 202)
    assert Queue("low", connection=redis_conn).job_ids == [response.json()["job_id"]]


# --- real worker processes -----------------------------------------------------------------


def run_burst(impl: str, *args: str) -> str:
    """Run `python -m <impl>.worker *args --burst` to its end; its output."""
    with start_worker(*args, "--burst", package=impl) as process:
        code = process.wait(60)
        output = process.output()
    assert code == 0, f"the worker exited {code}: {last_line(output)}\n{output[-2000:]}"
    return output


def started_order(jobs: dict[str, Job]) -> list[str]:
    """The names of `jobs` in the order they started; each must have finished."""
    for name, job in jobs.items():
        job.refresh()
        assert job.get_status() == "finished", f"job {name} ended {job_outcome(job)}"
    return sorted(jobs, key=lambda name: jobs[name].started_at)


@pytest.mark.e2e
def test_a_worker_on_high_default_low_runs_high_first(impl, priorities, tasks, queue):
    """`python -m lab.worker high default low` runs high's jobs, then default's, then low's.

    Whatever order they were queued in; on each queue, a job queued with at_front=True
    comes first."""
    jobs: dict[str, Job] = {}
    for n in (1, 2):
        for priority in ("low", "default", "high"):  # the reverse of their urgency
            on = priorities.queue_for(queue, priority)
            jobs[f"{priority}{n}"] = on.enqueue(tasks.send_fake_email, ADDRESS, 0)
    on = priorities.queue_for(queue, "high")
    jobs["high-at-front"] = on.enqueue(tasks.send_fake_email, ADDRESS, 0, at_front=True)
    run_burst(impl, "high", "default", "low")
    order = started_order(jobs)
    expected = ["high-at-front", "high1", "high2", "default1", "default2", "low1", "low2"]
    assert order == expected, f"the jobs started in the order {order}, not {expected}"


@pytest.mark.e2e
def test_round_robin_takes_the_queues_in_turn(impl, priorities, tasks, queue):
    """`--dequeue-strategy round_robin` takes one job from each queue in turn, not high's first.

    With 3 jobs on high and 3 on low, they run high, low, high, low, high, low."""
    jobs: dict[str, Job] = {}
    for priority in ("high", "low"):
        on = priorities.queue_for(queue, priority)
        for n in (1, 2, 3):
            jobs[f"{priority}{n}"] = on.enqueue(tasks.send_fake_email, ADDRESS, 0)
    run_burst(impl, "high", "default", "low", "--dequeue-strategy", "round_robin")
    order = started_order(jobs)
    kinds = [name.rstrip("123") for name in order]
    assert kinds == ["high", "low"] * 3, (
        f"with round_robin the jobs started in the order {order}: one of each queue in turn"
        " expected"
    )


@pytest.mark.e2e
def test_round_robin_reaches_every_worker_of_a_pool(impl, priorities, tasks, queue):
    """`--processes 2 --dequeue-strategy round_robin`: each worker of the pool takes the queues
    in turn.

    Each takes a low job before its last high one; by default, both would empty high first."""
    jobs: dict[str, Job] = {}
    for n in range(6):  # enough that a worker that starts late still takes several
        for priority in ("high", "low"):
            on = priorities.queue_for(queue, priority)
            jobs[f"{priority}{n}"] = on.enqueue(tasks.send_fake_email, ADDRESS, 0.1)
    args = ("--processes", "2", "--simple", "--dequeue-strategy", "round_robin", "high", "low")
    run_burst(impl, *args)
    order = started_order(jobs)
    by_worker: dict[str, list[str]] = {}
    for name in order:
        by_worker.setdefault(jobs[name].worker_name, []).append(name)
    assert len(by_worker) == 2, f"the jobs ran in {len(by_worker)} worker(s), not in 2"
    for names in by_worker.values():
        highs = [i for i, name in enumerate(names) if name.startswith("high")]
        lows = [i for i, name in enumerate(names) if name.startswith("low")]
        assert highs and lows and lows[0] < highs[-1], (
            f"a worker of the pool ran {names} in that order: with round_robin each worker"
            " takes a low job before high is empty (the strategy must reach each worker)"
        )


def test_an_urgent_email_with_redis_down_is_503(api_client, closed_port):
    """With Redis down, POST /emails with a priority answers 503 JSON saying what to do, not 500."""
    down = api_client(f"redis://127.0.0.1:{closed_port}/0")
    response = down.post("/emails", json={"email": "user@example.com", "priority": "high"})
    assert response.status_code == 503, unexpected(response, 503)
    assert "python -m lab redis start" in response.json()["detail"], response.text[:300]

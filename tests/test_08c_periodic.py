"""Step 08c: lab/periodic.py (schedule_digest on RQ's CronScheduler) and
`python -m lab.periodic`, run as a real process beside a real worker."""

from __future__ import annotations

import inspect
import re
import signal
import sys
from datetime import datetime, timedelta, timezone

import pytest
from rq.cron import CronJob, CronScheduler, get_cron_job_ids
from rq.job import Job

from lab.support.queueing.jobs import job_outcome
from lab.support.servers.processes import Background, last_line, poll, start_worker

#: The next times that `python -m lab.periodic` prints after "next: ".
NEXT_TIMES = r"; next: (\d\d:\d\d:\d\d), (\d\d:\d\d:\d\d), (\d\d:\d\d:\d\d)$"


def start_periodic(impl: str, *args: str) -> Background:
    """`python -m <impl>.periodic *args`, returned once its scheduler runs (its signal
    handlers are in place); an AssertionError with its last line if it exits first."""
    command = " ".join(["python -m", f"{impl}.periodic", *args])
    process = Background("periodic", [sys.executable, "-m", f"{impl}.periodic", *args])
    try:
        process.wait_for_output("registering birth")
    except (RuntimeError, TimeoutError):
        process.stop()
        output = process.output()
        process.log_path.unlink(missing_ok=True)
        raise AssertionError(
            f"`{command}` did not start its scheduler: {last_line(output)}\n{output[-2000:]}"
        ) from None
    return process


def arguments(job: CronJob) -> dict:
    """The arguments the cron job's function receives, by name."""
    try:
        return dict(inspect.signature(job.func).bind(*job.args, **job.kwargs).arguments)
    except TypeError as exc:
        raise AssertionError(
            f"{job.func_name} gets {job.args} {job.kwargs}, which do not fit it: {exc}"
        ) from None


def first_line(output: str, func_name: str) -> str:
    """The line where `python -m lab.periodic` says what it runs and when."""
    return next((line for line in output.splitlines() if line.startswith(func_name)), "")


# --- schedule_digest(): a CronJob on the scheduler -------------------------------------------


def test_schedule_digest_registers_send_digest_on_the_minute(periodic, redis_conn):
    """schedule_digest(scheduler, q) registers send_digest(q) on the queue q, cron DIGEST_CRON."""
    scheduler = CronScheduler(connection=redis_conn)
    job = periodic.schedule_digest(scheduler, "reports")
    assert isinstance(job, CronJob), (
        f"schedule_digest() returned {job!r}: return the CronJob that scheduler.register() gives"
    )
    assert scheduler.get_jobs() == [job], (
        f"the scheduler holds {scheduler.get_jobs()}: register the job with scheduler.register()"
    )
    assert job.func is periodic.send_digest, f"the job runs {job.func_name}, not send_digest"
    assert job.queue_name == "reports", f"the job goes on {job.queue_name!r}, not 'reports'"
    assert arguments(job) == {"queue_name": "reports"}, (
        f"send_digest gets {arguments(job)}, not queue_name='reports': args=(queue_name,)"
    )
    assert (job.cron, job.interval) == ("* * * * *", None), (
        f"the job has cron={job.cron!r} and interval={job.interval!r}: without every, use"
        " cron=DIGEST_CRON ('* * * * *') and no interval"
    )
    now = datetime.now(timezone.utc)
    due = job.next_enqueue_time
    assert now < due <= now + timedelta(seconds=60), f"its next run is {due}, at {now}"
    assert (due.second, due.microsecond) == (0, 0), f"its next run is {due}, not at second 0"


def test_schedule_digest_every_n_seconds_uses_an_interval(periodic, redis_conn):
    """schedule_digest(scheduler, name, every=2) registers send_digest every 2 s, with no cron."""
    scheduler = CronScheduler(connection=redis_conn)
    job = periodic.schedule_digest(scheduler, "default", every=2)
    assert isinstance(job, CronJob), f"schedule_digest() returned {job!r}, not a CronJob"
    assert scheduler.get_jobs() == [job], f"the scheduler holds {scheduler.get_jobs()}"
    assert (job.interval, job.cron) == (2, None), (
        f"the job has interval={job.interval!r} and cron={job.cron!r}: with every=2, pass"
        " interval=every and no cron"
    )
    assert job.func is periodic.send_digest, f"the job runs {job.func_name}, not send_digest"
    assert (job.queue_name, arguments(job)) == ("default", {"queue_name": "default"}), (
        f"the job runs with {arguments(job)} on {job.queue_name!r}"
    )
    assert job.should_run(), "an interval job runs at once when the scheduler starts"


# --- python -m lab.periodic, with a worker ---------------------------------------------------


@pytest.mark.e2e
def test_periodic_command_queues_the_digest_each_second_for_a_worker(impl, redis_conn):
    """`python -m lab.periodic --every 1` queues send_digest each second; a worker runs each one.

    SIGTERM stops it: exit 0, no traceback, and RQ's registry of cron schedulers forgets it."""
    name = f"{impl}.periodic.send_digest"
    with start_periodic(impl, "--every", "1") as cron, start_worker("--simple", package=impl):
        said = first_line(cron.output(), name)
        assert said.startswith(f"{name} every 1 s on default at "), (
            f"its first line is {said or last_line(cron.output())!r}"
        )
        assert re.search(NEXT_TIMES, said), f"its first line gives no next times: {said!r}"

        def finished() -> list[Job]:
            ids = get_cron_job_ids(name, redis_conn)
            jobs = [job for job in Job.fetch_many(ids, connection=redis_conn) if job]
            return [job for job in jobs if job.get_status(refresh=False) == "finished"]

        done = poll(finished, lambda jobs: len(jobs) >= 2, "two digests to finish", 6)[-1]
        running = [s.name for s in CronScheduler.all(redis_conn)]
        assert len(running) == 1, f"RQ's registry lists the cron schedulers {running}, not one"
        code = cron.stop()
        output = cron.output()
    assert code == 0, f"after SIGTERM it exited {code}: {last_line(output)}\n{output[-2000:]}"
    assert "Traceback" not in output, output[-2000:]
    left = [s.name for s in CronScheduler.all(redis_conn)]
    assert left == [], f"after it stopped, RQ's registry still lists the cron schedulers {left}"
    for job in done:
        result = job.return_value()
        assert (result or "").startswith("Digest of default: "), (
            f"a digest ended {job_outcome(job)} with {result!r}"
        )
    first, second = sorted(done, key=lambda job: job.enqueued_at)[:2]
    gap = (second.enqueued_at - first.enqueued_at).total_seconds()
    assert 0.8 < gap < 2, f"two digests were queued {gap:.2f} s apart, not every 1 s"


@pytest.mark.e2e
def test_ctrl_c_stops_the_periodic_command_on_the_minute(impl, redis_conn):
    """`python -m lab.periodic --queue reports` runs on cron, due at second 0; Ctrl-C stops it.

    It exits 0 with no traceback, and RQ's registry of cron schedulers forgets it."""
    name = f"{impl}.periodic.send_digest"
    with start_periodic(impl, "--queue", "reports") as cron:
        said = first_line(cron.output(), name)
        assert said.startswith(f"{name} on cron '* * * * *' on reports at "), (
            f"its first line is {said or last_line(cron.output())!r}"
        )
        times = re.search(NEXT_TIMES, said)
        assert times and all(t.endswith(":00") for t in times.groups()), (
            f"the next times are not at second 0 of each minute: {said!r}"
        )
        poll(lambda: CronScheduler.all(redis_conn), bool, "the scheduler to register", 5)
        cron.process.send_signal(signal.SIGINT)
        code = cron.wait(10)
        output = cron.output()
    assert code == 0, f"after Ctrl-C it exited {code}: {last_line(output)}\n{output[-2000:]}"
    assert "Traceback" not in output, output[-2000:]
    left = [s.name for s in CronScheduler.all(redis_conn)]
    assert left == [], f"after it stopped, RQ's registry still lists the cron schedulers {left}"

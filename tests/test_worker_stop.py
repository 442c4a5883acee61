"""`python -m solutions.worker` stops at once: a `--burst` worker within STOP_LIMIT seconds
of its last job, and Ctrl-C (SIGINT to its process group, as a terminal sends it) or
SIGTERM (to the process, as a supervisor sends it) of an idle worker, SimpleWorker or
pool within STOP_LIMIT seconds. With stock RQ 3.0 on redis-py 8.2, each took 45-60 s:
the command thread's 60-s wait held up the exit (lab/support/workers/classes.py)."""

from __future__ import annotations

import os
import signal
import time
from datetime import datetime, timezone

import pytest
from rq import Queue, Worker

from lab.support.servers.processes import poll, start_worker

STOP_LIMIT = 2.0


@pytest.mark.parametrize("kind", [[], ["--simple"], ["--spawn"]], ids=["Worker", "Simple", "Spawn"])
def test_a_burst_worker_exits_soon_after_its_last_job(redis_conn, kind):
    queue = Queue("stop-burst", connection=redis_conn)
    job = queue.enqueue("solutions.tasks.send_fake_email", "stop@example.com", 0)
    with start_worker("stop-burst", "--burst", *kind, package="solutions") as worker:
        assert worker.wait(60) == 0, worker.output()
        exited = datetime.now(timezone.utc)
        said = worker.output()
    job.refresh()
    assert job.get_status() == "finished", said
    after = (exited - job.ended_at.replace(tzinfo=timezone.utc)).total_seconds()
    assert after < STOP_LIMIT, f"exited {after:.1f} s after its last job ended:\n{said}"


def idle(queue: Queue, workers: int) -> None:
    """Wait until `workers` workers of `queue` say in Redis that they are idle: started,
    subscribed to their command channel, their scheduler started, waiting for a job - the
    state a worker is in when a person stops it."""
    poll(
        lambda: [w.get_state() for w in Worker.all(queue=queue)],
        lambda states: states.count("idle") >= workers,
        f"{workers} idle workers",
        timeout=60,
    )


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
@pytest.mark.parametrize(
    ("kind", "workers"),
    [([], 1), (["--simple"], 1), (["--processes", "4"], 4)],
    ids=["Worker", "Simple", "pool-of-4"],
)
def test_an_idle_worker_stops_at_once(redis_conn, kind, workers, how):
    with start_worker("stop-idle", *kind, package="solutions") as worker:
        idle(Queue("stop-idle", connection=redis_conn), workers)
        started = time.monotonic()
        if how == "ctrl-c":  # a terminal sends SIGINT to its whole foreground group
            os.killpg(worker.process.pid, signal.SIGINT)
        else:
            worker.process.send_signal(signal.SIGTERM)
        code = worker.wait(30)
        took = time.monotonic() - started
        said = worker.output()
    assert code == 0, said
    assert took < STOP_LIMIT, f"stopped {took:.1f} s after {how}:\n{said}"
    assert "Traceback" not in said, said

"""PROVIDED: one crash case, measured in a child process of `python -m lab bench peers`
(`python -m lab.support.experiments.peers.crash LIBRARY CASE [--quick]`).

On its own private Redis, two workers of the library start; one of them takes the crash
job (an email of `job_s` seconds that records its start and its process id). `kill_s`
seconds after the job started, that worker's whole process tree is killed with SIGKILL
(work horses and pool processes too); the other worker, warm by then, stays up, as on any
queue served by more than one worker. Meanwhile one no-op email a second is sent, as on a
queue in use (taskiq's stream broker claims a dead worker's messages only after it read
new ones). The outcome, from the kill on:

  re-run   the job started again (a second start recorded): after how many seconds
  failed   the library marked it failed or aborted (RQ, saq): after how many seconds
  lost     neither within `watched_s` seconds, and nothing in the library would run it
           again (the seconds given are those watched); `library_state` says where the
           library left it, where it keeps a status (saq 0.26's sweep can leave a swept
           job "aborting" for good: neither failed nor run again)
"""

from __future__ import annotations

import sys
import time

from lab.support.experiments.peers.common import STARTED_KEY, CrashCase, peer_module
from lab.support.experiments.peers.runner import shown
from lab.support.experiments.peers.session import Session, main

FULL = {"job_s": 5.0, "kill_s": 1.0}
QUICK = {"job_s": 2.0, "kill_s": 0.5}
OUTCOMES = ("re-run", "failed", "lost")


def case_named(library: str, name: str) -> CrashCase:
    from importlib import import_module

    cases = import_module(peer_module(library)).Peer.crash_cases
    return next(case for case in cases if case.name == name)


def starts(session: Session) -> list[tuple[float, int]]:
    """Every start of the crash job so far: (time, process id)."""
    marks = (value.decode().split() for value in session.redis.lrange(STARTED_KEY, 0, -1))
    return [(float(when), int(pid)) for when, pid in marks]


def running_it(workers: list, pid: int):  # noqa: ANN201 - a processes.Background
    """The worker whose process tree holds `pid` (the job's process)."""
    from lab.support.servers.processes import descendants

    for worker in workers:
        if pid == worker.process.pid or pid in descendants(worker.process.pid):
            return worker
    raise RuntimeError(f"no worker of the bench runs process {pid}")


def first_start(session: Session, workers: list, timeout: float = 90) -> tuple[float, int]:
    deadline = time.monotonic() + timeout
    while not (found := starts(session)):
        dead = [worker for worker in workers if not worker.running]
        if dead or time.monotonic() > deadline:
            output = (dead or workers)[0].output()[-3000:]
            raise RuntimeError(f"{session.library}'s crash job did not start:\n{output}")
        time.sleep(0.02)
    return found[0]


def watch(session: Session, handle: object, killed: float, watch_s: float) -> tuple[str, float]:
    """(outcome, seconds from the kill), polled every 0.05 s; a no-op email every second."""
    traffic = time.monotonic()
    while True:
        now = time.time()
        seen = starts(session)
        if len(seen) > 1:
            return "re-run", seen[1][0] - killed
        if session.peer.failed(handle):
            return "failed", now - killed
        if now - killed > watch_s:
            return "lost", watch_s
        if time.monotonic() - traffic >= 1:
            session.peer.enqueue(0)
            traffic = time.monotonic()
        time.sleep(0.05)


def measure(argv: list[str]) -> dict:
    library, name, quick = argv[0], argv[1], "--quick" in argv
    case = case_named(library, name)
    settings = case.quick if quick else case.settings
    worker_argv = (case.quick_worker or case.worker) if quick else case.worker
    env = case.quick_env if quick else case.env
    watch_s = case.quick_watch_s if quick else case.watch_s
    timing = QUICK if quick else FULL
    with Session(library, settings) as session:
        workers = [session.start_worker(worker_argv, env=env) for _ in range(2)]
        handle = session.peer.enqueue_slow(timing["job_s"])
        began, pid = first_start(session, workers)
        doomed = running_it(workers, pid)
        time.sleep(max(0.0, began + timing["kill_s"] - time.time()))
        killed = time.time()
        session.stop(doomed)
        outcome, seconds = watch(session, handle, killed, watch_s)
        return {
            "library": library,
            "version": session.version,
            "case": case.name,
            "at_least_once": case.at_least_once,
            "describe": case.describe,
            "worker": shown(worker_argv),
            "settings": {**settings, **env},
            "job_s": timing["job_s"],
            "killed_after_s": round(killed - began, 2),
            "outcome": outcome,
            "seconds": round(seconds, 1),
            "library_state": session.peer.state(handle),
            "watched_s": watch_s,
        }


if __name__ == "__main__":
    sys.exit(main(measure))

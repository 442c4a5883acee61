"""PROVIDED: the processes of a `python -m lab soak` run, and the chaos that strikes them.

`Crew` starts the API and a pool of workers (`python -m <package>.worker --processes W`:
RQ's WorkerPool, which starts a new worker when one dies, as systemd or Kubernetes would
restart a service), kills one of them for the chaos, and finds, in the pool's log, the
workers that died by themselves. `Chaos` strikes at seeded moments of the sending.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import threading
import time
from dataclasses import dataclass, field

from redis import Redis
from rq import Worker

from lab.support.experiments.harness import started
from lab.support.experiments.soak.settings import SoakError, SoakSettings
from lab.support.servers.processes import (
    Api,
    Background,
    descendants,
    last_line,
    start_api,
    start_worker,
)
from lab.support.servers.redis_server import PrivateServer

#: A worker's end, as RQ's WorkerPool logs it when it finds one dead.
DEAD = re.compile(r"Worker \w+ with pid (\d+) is dead")


class Crew:
    """The API and the pool of workers of one run, on the Redis `redis`."""

    def __init__(self, settings: SoakSettings, redis: PrivateServer, started_at: float):
        self.settings, self.started = settings, started_at
        self.env = {"REDIS_URL": redis.url, "RESULT_TTL": "86400", **dict(settings.env)}
        self.client = Redis.from_url(redis.url, socket_timeout=2)
        self.api: Api | None = None
        self.pool: Background | None = None
        self.kills: list[dict] = []
        self.exits: list[dict] = []
        self.stopped = False

    def start(self) -> None:
        package, count = self.settings.package, self.settings.workers
        self.api = started(
            lambda: start_api(package, env=self.env), f"uvicorn {package}.producer:app"
        )
        flags = ["--processes", str(count), *(["--simple"] if self.settings.simple else [])]
        self.pool = started(
            lambda: start_worker(*flags, package=package, env=self.env),
            f"python -m {package}.worker",
        )
        if len(self.workers()) < count:
            raise SoakError(
                f"python -m {package}.worker {' '.join(flags)}: {count} workers did"
                f" not start in 30 s: {last_line(self.pool.output())}"
            )

    def workers(self, timeout: float = 30, minimum: int | None = None) -> list[Worker]:
        """The pool's live workers by pid (the only workers of this Redis), once `minimum`
        (default: all) are up, or those up after `timeout` seconds."""
        killed, deadline = {kill["pid"] for kill in self.kills}, time.monotonic() + timeout
        while True:
            up = [w for w in Worker.all(connection=self.client) if w.pid not in killed]
            up = [w for w in up if w.pid is not None]  # a worker whose hash is half written
            up = [worker for worker in up if alive(worker.pid)]
            if len(up) >= (minimum or self.settings.workers) or time.monotonic() > deadline:
                return sorted(up, key=lambda worker: worker.pid)
            time.sleep(0.05)

    def kill(self, index: int, wait: bool = True) -> dict | None:
        """SIGKILL the pool's worker `index` among those up, waiting for one to be up (or,
        not `wait`ing, None if none is now); the pool starts a new one. A strike does not
        wait for the pool to replace its last victim: that wait let the sending end before
        the strikes planned for it (a test saw 2 of 3)."""
        up = self.workers(minimum=1) if wait else self.workers(timeout=0)
        if not up:
            return None
        worker = up[index % len(up)]
        job = worker.get_current_job_id()
        # The worker first (it must not see its horse die and say so), then what it
        # started: a forking Worker's work horse, in a process group of its own.
        for pid in [worker.pid, *descendants(worker.pid)]:
            for end in (os.kill, os.killpg):
                with contextlib.suppress(OSError):
                    end(pid, signal.SIGKILL)
        kill = {"slot": index, "pid": worker.pid, "job": job, "at_s": self.since()}
        self.kills.append(kill)
        return kill

    def since(self) -> float:
        return round(time.monotonic() - self.started, 2)

    def stop(self) -> None:
        """Note the workers that exited by themselves (`exits`), then stop everything."""
        if self.stopped:
            return
        self.stopped = True
        if self.pool is not None:
            self.exits = exited(self.pool.output(), {kill["pid"] for kill in self.kills})
            if not self.pool.running:
                code, said = self.pool.process.returncode, last_line(self.pool.output())
                self.exits.append(
                    {
                        "pid": self.pool.process.pid,
                        "last_line": said,
                        "at": f"the pool exited with code {code}",
                    }
                )
        for process in (self.api, self.pool):
            if process is not None:
                process.__exit__()
        self.client.close()

    def ended(self) -> dict[int, str]:
        """pid -> how each worker process that ended ended, for the audit."""
        return {
            **{e["pid"]: "exited by itself" for e in self.exits},
            **{k["pid"]: f"killed by the chaos at {k['at_s']:.1f} s" for k in self.kills},
        }


def alive(pid: int) -> bool:
    """Whether the process `pid` is still there (signal 0 checks without sending one)."""
    try:
        os.kill(pid, 0)
    except OSError:  # gone, or another user's: not one of ours
        return False
    return True


def exited(log: str, killed: set[int]) -> list[dict]:
    """The workers a pool's `log` says died, but for those `killed`: each with the pool's
    line and the five lines before it (but for other deaths), where its last words are."""
    lines = [line for line in log.splitlines() if line.strip()]
    found = []
    for i, line in enumerate(lines):
        if (dead := DEAD.search(line)) and int(dead[1]) not in killed:
            before = [earlier for earlier in lines[:i] if not DEAD.search(earlier)][-5:]
            found.append(
                {
                    "pid": int(dead[1]),
                    "at": line,
                    "last_lines": before,
                    "last_line": before[-1] if before else "",
                }
            )
    return found


@dataclass
class Progress:
    """What the clients have done so far: the chaos thread reads it."""

    taken: int = 0
    """Requests whose first attempt was sent."""
    done: threading.Event = field(default_factory=threading.Event)


class Chaos:
    """Strikes at seeded random moments of the sending: at shares of the requests sent
    drawn between 10% and 80%; or, with `kill_every`, every that many seconds from 10% of
    the requests until the sending ends (a worker chosen at random among those up)."""

    def __init__(self, settings: SoakSettings, crew: Crew, redis: PrivateServer, started_at: float):
        self.settings, self.crew, self.redis, self.started = settings, crew, redis, started_at
        self.rng = rng = random.Random(settings.seed)
        count = settings.chaos_events
        self.at = sorted(round(rng.uniform(0.1, 0.8) * settings.requests) for _ in range(count))
        self.victims = [rng.randrange(settings.workers) for _ in range(count)]
        self.events: list[dict] = []
        self.error: str | None = None

    def run(self, progress: Progress) -> None:
        if self.settings.kill_every is not None:
            self.run_every(progress, self.settings.kill_every)
            return
        try:
            for at, victim in zip(self.at, self.victims, strict=True):
                while progress.taken < at and not progress.done.is_set():
                    time.sleep(0.02)
                if progress.done.is_set():
                    break  # the sending ended first: the rest did not happen (the report says)
                self.strike(victim, progress.taken)
        except Exception as exc:  # reported, and the run's targets count as missed
            self.error = f"{type(exc).__name__}: {exc}"

    def run_every(self, progress: Progress, seconds: float) -> None:
        """A kill every `seconds` from 10% of the requests until the sending ends (or
        --events kills)."""
        cap = self.settings.events
        try:
            while progress.taken < 0.1 * self.settings.requests and not progress.done.is_set():
                time.sleep(0.02)
            while not progress.done.is_set() and (cap is None or len(self.events) < cap):
                next_at = time.monotonic() + seconds
                self.strike(self.rng.randrange(self.settings.workers), progress.taken, wait=False)
                progress.done.wait(max(0.0, next_at - time.monotonic()))
        except Exception as exc:  # reported, and the run's targets count as missed
            self.error = f"{type(exc).__name__}: {exc}"

    def strike(self, victim: int, sent: int, wait: bool = True) -> None:
        at = round(time.monotonic() - self.started, 2)
        kind = self.settings.chaos
        if kind == "worker-kill":
            kill = self.crew.kill(victim, wait=wait)
            if kill is None:
                return  # no worker up at this moment: the pool is starting them again
            job = f", running job {kill['job']}" if kill["job"] else ", idle"
            what = f"SIGKILL worker {victim} (pid {kill['pid']}{job}) at request {sent}"
            self.events.append({**kill, "at_s": at, "what": what})
            return
        gone = time.monotonic()
        if kind == "redis-restart":
            self.redis.stop()
        else:
            self.redis.kill()
        stopped = time.monotonic()
        time.sleep(self.settings.down)
        self.redis.start()
        down = time.monotonic() - gone
        how = "stopped (SHUTDOWN, AOF written)" if kind == "redis-restart" else "SIGKILL"
        self.events.append(
            {
                "at_s": at,
                "what": f"Redis {how} at request {sent}, down {down:.1f} s",
                "stop_s": round(stopped - gone, 2),
                "down_s": round(down, 2),
            }
        )

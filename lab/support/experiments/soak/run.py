"""PROVIDED: `python -m lab soak` - keyed POSTs under chaos: is everything accepted done?

    SoakSettings   one run's settings (DEFAULT, QUICK)
    Crew           the API and the workers, and a supervisor thread that restarts any of
                   them that ended, noting whether the chaos killed it or it exited
    send_all()     N POST /emails with Idempotency-Keys from C clients, each re-sent after
                   a non-202 answer (or none) until a 202 or a deadline
    Chaos          the seeded plan (at which share of the requests sent) and its thread
    run()          one run, returned as the dict that soak_audit.table() prints

Chaos never touches the learner's Redis: the soak starts a server of its own
(redis_server.PrivateServer: a free port, a temporary data folder, AOF on).
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import secrets
import sys
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from lab.support.config import get_settings
from lab.support.course.stubs import NOT_DONE
from lab.support.experiments.bench.settings import BenchError
from lab.support.servers.processes import Api, Background, last_line, start_api

if TYPE_CHECKING:
    from lab.support.servers.redis_server import PrivateServer

CHAOS = ("none", "worker-kill", "redis-restart", "redis-kill")
#: The settings a soak run passes to the API and the workers (and records in its report).
RECORDED = (
    "maintenance_interval",
    "job_heartbeat",
    "job_lease",
    "idempotency_claim_ttl",
    "redis_outage_limit",
    "worker_ttl",
    "result_ttl",
    "serializer",
)


class SoakError(BenchError):
    """The soak cannot run; the message says why (a BenchError, for with_fallback())."""


@dataclass(frozen=True)
class SoakSettings:
    """One soak run, as `python -m lab soak`'s flags chose it."""

    requests: int = 5000
    concurrency: int = 50
    workers: int = 4
    simple: bool = False
    """SimpleWorker (--simple) instead of the forking Worker."""
    chaos: str = "none"
    events: int | None = None
    """How many times the chaos strikes (default: 3 worker kills, or 1 Redis outage)."""
    down: float = 9.0
    """Seconds Redis stays down at each outage (the issue's ~9 s)."""
    seed: int = 14
    delay: float = 0.02
    """Seconds each email takes."""
    resend_for: float = 90.0
    """Seconds a client keeps re-sending one request before it gives up: longer than
    IDEMPOTENCY_CLAIM_TTL, so that a claim left by an outage can expire meanwhile."""
    drain_for: float | None = None
    """Seconds the drain waits for the next job to end (default: from JOB_LEASE and
    MAINTENANCE_INTERVAL)."""
    env: tuple[tuple[str, str], ...] = ()
    """Settings given to the API and the workers, besides REDIS_URL and RESULT_TTL."""
    package: str = "lab"

    @property
    def chaos_events(self) -> int:
        if self.chaos == "none":
            return 0
        if self.events is not None:
            return self.events
        return 3 if self.chaos == "worker-kill" else 1


DEFAULT = SoakSettings()
QUICK = SoakSettings(
    requests=300,
    concurrency=20,
    workers=2,
    down=3.0,
    resend_for=25.0,
    env=(
        ("MAINTENANCE_INTERVAL", "2"),
        ("JOB_HEARTBEAT", "1"),
        ("JOB_LEASE", "6"),
        ("IDEMPOTENCY_CLAIM_TTL", "5"),
    ),
)
"""Small and short, for the tests: settings scaled down so that a killed worker's job is
failed, and a claim left by an outage expires, within the run."""


def effective(env: Mapping[str, str]) -> dict:
    """The workbook's settings (RECORDED) that processes started with `env` read."""
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    get_settings.cache_clear()
    try:
        settings = get_settings()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        get_settings.cache_clear()
    return {name: getattr(settings, name) for name in RECORDED}


@dataclass
class Slot:
    """One worker the supervisor keeps running, and its process now."""

    index: int
    process: Background


class Crew:
    """The API and the workers of one run; a supervisor restarts a worker that ended, as
    systemd or Kubernetes would, once Redis answers again, noting how it ended."""

    def __init__(self, settings: SoakSettings, redis: PrivateServer, started: float):
        self.settings, self.redis, self.started = settings, redis, started
        self.env = {"REDIS_URL": redis.url, "RESULT_TTL": "86400", **dict(settings.env)}
        kind = ["--simple"] if settings.simple else []
        self.command = [sys.executable, "-m", f"{settings.package}.worker", *kind]
        self.api: Api | None = None
        self.slots: list[Slot] = []
        self.exits: list[dict] = []
        self.kills: list[dict] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.supervise, daemon=True)

    def start(self) -> None:
        package = self.settings.package
        try:
            self.api = start_api(package, env=self.env)
        except (RuntimeError, TimeoutError) as exc:
            said = last_line(str(exc))
            raise SoakError(
                f"uvicorn {package}.producer:app did not start: {said}", unwritten=NOT_DONE in said
            ) from None
        self.slots = [
            Slot(i, Background(f"soak-worker-{i}", self.command, self.env))
            for i in range(self.settings.workers)
        ]
        for slot in self.slots:
            try:
                slot.process.wait_for_output("listening on", timeout=30)
            except (RuntimeError, TimeoutError) as exc:
                said = last_line(slot.process.output()) or str(exc)
                raise SoakError(
                    f"python -m {package}.worker did not start: {said}",
                    unwritten=NOT_DONE in said,
                ) from None
        self.thread.start()

    def supervise(self) -> None:
        while not self.stopping.wait(0.2):
            for slot in self.slots:
                with self.lock:
                    if slot.process.running:
                        continue
                    self.note_exit(slot)
                if self.redis.answers():
                    self.restart(slot)

    def note_exit(self, slot: Slot) -> None:
        """Record once that the worker of `slot` ended by itself."""
        process = slot.process
        if getattr(process, "noted", False):
            return
        process.noted = True  # type: ignore[attr-defined]
        output = process.output()
        self.exits.append(
            {
                "slot": slot.index,
                "pid": process.process.pid,
                "code": process.process.returncode,
                "at_s": self.since(),
                "last_line": last_line(output),
                "traceback": "Traceback" in output,
                "last_lines": [line for line in output.splitlines() if line.strip()][-5:],
            }
        )

    def restart(self, slot: Slot) -> None:
        with self.lock:
            if slot.process.running or self.stopping.is_set():
                return
            slot.process.__exit__()
            slot.process = Background(f"soak-worker-{slot.index}", self.command, self.env)

    def kill(self, index: int) -> dict:
        """SIGKILL worker `index`, its work horse included; the supervisor restarts it.
        A worker just restarted is first given up to 30 s to listen on its queue."""
        slot = self.slots[index]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with self.lock:
                process = slot.process
            if process.running and "listening on" in process.output():
                break
            time.sleep(0.05)
        with self.lock:  # the supervisor notes no exit meanwhile: this end is a kill
            pid = slot.process.process.pid
            job = current_job(self.redis.url, pid)
            slot.process.crash()  # its work horse too
            slot.process.noted = True  # type: ignore[attr-defined]
        kill = {"slot": index, "pid": pid, "job": job, "at_s": self.since()}
        self.kills.append(kill)
        return kill

    def since(self) -> float:
        return round(time.monotonic() - self.started, 2)

    def ended(self) -> dict[int, str]:
        """pid -> how each worker process that ended ended ("killed at 1.2 s", ...)."""
        return {
            **{e["pid"]: f"exited at {e['at_s']:.1f} s" for e in self.exits},
            **{k["pid"]: f"killed by the chaos at {k['at_s']:.1f} s" for k in self.kills},
        }

    def stop(self) -> None:
        if self.stopping.is_set():
            return
        self.stopping.set()
        if self.thread.is_alive():
            self.thread.join(5)
        with self.lock:
            for slot in self.slots:
                if not slot.process.running:
                    self.note_exit(slot)
        for process in [self.api, *(slot.process for slot in self.slots)]:
            if process is not None:
                process.__exit__()


def current_job(url: str, pid: int) -> str | None:
    """The id of the job the worker of process `pid` runs now, as RQ says (None: idle)."""
    from redis import Redis
    from redis.exceptions import RedisError
    from rq import Worker

    connection = Redis.from_url(url, socket_timeout=2)
    try:
        for worker in Worker.all(connection=connection):
            if worker.pid == pid:
                return worker.get_current_job_id()
    except RedisError:
        return None
    finally:
        connection.close()
    return None


@dataclass
class Progress:
    """What the clients have done so far: the chaos thread reads it."""

    taken: int = 0
    """Requests whose first attempt was sent."""
    done: threading.Event = field(default_factory=threading.Event)


@dataclass
class Attempts:
    """Every answer one Idempotency-Key got."""

    statuses: list[int] = field(default_factory=list)
    jobs: list[str] = field(default_factory=list)
    replayed: int = 0
    detail: str = ""


#: Answers after which a client sends the same request again (0: no answer came).
RETRYABLE = {0, 408, 409, 425, 429, 500, 502, 503, 504}


async def send_all(
    url: str, settings: SoakSettings, run_id: str, progress: Progress
) -> dict[str, Attempts]:
    """Send every request; return, per Idempotency-Key, what its attempts got."""
    import httpx

    from lab.support.experiments.bench.load import http_clients

    records: dict[str, Attempts] = {}
    left = iter(range(settings.requests))
    jitter = random.Random(settings.seed)

    async def one(client: httpx.AsyncClient, index: int) -> None:
        key = f"{run_id}-{index}"
        attempts = records[key] = Attempts()
        body = {"email": f"{key}@example.com", "delay": settings.delay}
        headers = {"Idempotency-Key": key}
        give_up = time.monotonic() + settings.resend_for
        pause = 0.1
        while True:
            try:
                response = await client.post("/emails", json=body, headers=headers)
                status = response.status_code
            except httpx.HTTPError as exc:
                status, response = 0, None
                attempts.detail = f"{type(exc).__name__}"
            attempts.statuses.append(status)
            if status == 202 and response is not None:
                attempts.jobs.append(response.json()["job_id"])
                attempts.replayed += response.headers.get("Idempotent-Replayed") == "true"
                return
            if response is not None:
                attempts.detail = response.text[:200]
            if status not in RETRYABLE or time.monotonic() > give_up:
                return
            await asyncio.sleep(pause * (0.5 + jitter.random()))
            pause = min(pause * 2, 2.0)

    async def sender(client: httpx.AsyncClient) -> None:
        for index in left:
            progress.taken += 1
            await one(client, index)

    async with http_clients(url, settings.concurrency, timeout=10) as clients:
        await asyncio.gather(*(sender(client) for client in clients))
    return records


class Chaos:
    """Strikes at seeded random moments of the sending: at shares of the requests sent
    drawn between 10% and 80%."""

    def __init__(self, settings: SoakSettings, crew: Crew, redis: PrivateServer, started: float):
        self.settings, self.crew, self.redis, self.started = settings, crew, redis, started
        rng = random.Random(settings.seed)
        count = settings.chaos_events
        self.at = sorted(round(rng.uniform(0.1, 0.8) * settings.requests) for _ in range(count))
        self.victims = [rng.randrange(settings.workers) for _ in range(count)]
        self.events: list[dict] = []
        self.error: str | None = None

    def run(self, progress: Progress) -> None:
        try:
            for at, victim in zip(self.at, self.victims, strict=True):
                while progress.taken < at and not progress.done.is_set():
                    time.sleep(0.02)
                if progress.done.is_set():
                    break  # the sending ended first: the rest did not happen (the report says)
                self.strike(victim, progress.taken)
        except Exception as exc:  # reported, and the run's targets count as missed
            self.error = f"{type(exc).__name__}: {exc}"

    def strike(self, victim: int, sent: int) -> None:
        at = time.monotonic() - self.started
        kind = self.settings.chaos
        if kind == "worker-kill":
            kill = self.crew.kill(victim)
            job = f", running job {kill['job']}" if kill["job"] else ", idle"
            what = f"SIGKILL worker {victim} (pid {kill['pid']}{job}) at request {sent}"
            self.events.append({**kill, "at_s": round(at, 2), "what": what})
            return
        gone = time.monotonic()
        if kind == "redis-restart":
            self.redis.stop()
        else:
            self.redis.kill()
        stopped = time.monotonic()
        time.sleep(self.settings.down)
        self.redis.start()
        back = time.monotonic()
        how = "stopped (SHUTDOWN, AOF written)" if kind == "redis-restart" else "SIGKILL"
        what = f"Redis {how} at request {sent}, down {back - gone:.1f} s"
        self.events.append(
            {
                "at_s": round(at, 2),
                "what": what,
                "stop_s": round(stopped - gone, 2),
                "down_s": round(back - gone, 2),
            }
        )


def key_pattern(run_id: str) -> re.Pattern[str]:
    """Finds the Idempotency-Key in a job's description: its address is <key>@example.com."""
    return re.compile(rf"'({re.escape(run_id)}-\d+)@example\.com'")


def preflight(api_url: str) -> None:
    """One POST /emails, without a key: a TODO not written yet stops the soak in one line."""
    import httpx

    response = httpx.post(
        f"{api_url}/emails", json={"email": "preflight@example.com", "delay": 0}, timeout=10
    )
    if response.status_code == 501:
        raise SoakError(f"POST /emails answered 501: {response.json()['detail']}", unwritten=True)
    if response.status_code != 202:
        raise SoakError(f"POST /emails answered {response.status_code}: {response.text[:200]}")


def drain(url: str, ids: set[str], pattern: re.Pattern[str], patience: float) -> float:
    """Wait until every job of the run (those answered, and any other whose description
    names one of its keys) is finished or failed, or until no job has ended for `patience`
    seconds; return the seconds waited."""
    from redis import Redis
    from redis.exceptions import RedisError

    from lab.support.experiments.soak.audit import DONE, job_keys

    started = last_change = time.monotonic()
    left = None
    connection = Redis.from_url(url, socket_timeout=5)
    try:
        while time.monotonic() - last_change < patience:
            try:
                every = sorted(ids | set(job_keys(connection)))
                with connection.pipeline(transaction=False) as pipe:
                    for job_id in every:
                        pipe.hmget(f"rq:job:{job_id}", "status", "description")
                    read = pipe.execute()
            except RedisError:
                time.sleep(0.5)
                continue
            waiting = [
                job_id
                for job_id, (status, description) in zip(every, read, strict=True)
                if (job_id in ids or (description and pattern.search(description.decode())))
                and (status or b"").decode() not in DONE
            ]
            if not waiting:
                break
            if len(waiting) != left:
                left, last_change = len(waiting), time.monotonic()
            time.sleep(0.5)
    finally:
        connection.close()
    return time.monotonic() - started


def patience(settings: SoakSettings, recorded: Mapping) -> float:
    """Seconds the drain waits for the next job to end: an abandoned job is failed a lease
    and a maintenance interval after its worker died; twice that, for margin."""
    if settings.drain_for is not None:
        return settings.drain_for
    return 2 * (recorded["job_lease"] + recorded["maintenance_interval"]) + 20


def run(settings: SoakSettings, say=print) -> dict:
    """One soak run, start to end; the report (soak_audit.table() prints it). `say` tells
    what happens meanwhile, a line per phase."""
    from redis import Redis

    from lab.support.experiments.bench.load import run_in_thread
    from lab.support.experiments.soak.audit import audit, missed
    from lab.support.servers.redis_server import PrivateServer

    started = time.monotonic()
    run_id = f"soak-{secrets.token_hex(4)}"
    redis = PrivateServer()
    crew = None
    try:
        if not redis.start().started_now:
            raise SoakError(f"port {redis.url} was taken by another Redis; run the soak again.")
        crew = Crew(settings, redis, started)
        crew.start()
        assert crew.api is not None
        preflight(crew.api.url)
        recorded = effective(crew.env)
        say(
            f"soak: sending {settings.requests} requests at concurrency {settings.concurrency}"
            f" to {settings.package}.producer, {settings.workers} workers, chaos {settings.chaos}",
            flush=True,
        )
        chaos = Chaos(settings, crew, redis, started)
        progress = Progress()
        thread = threading.Thread(target=chaos.run, args=(progress,), daemon=True)
        thread.start()
        sending = time.monotonic()
        url = crew.api.url
        records = run_in_thread(lambda: send_all(url, settings, run_id, progress))
        send_s = time.monotonic() - sending
        progress.done.set()
        thread.join()
        pattern = key_pattern(run_id)
        answered = {job for attempts in records.values() for job in attempts.jobs}
        limit = patience(settings, recorded)
        say(
            f"soak: sent in {send_s:.0f} s; waiting for the queue to drain (until no job"
            f" ended for {limit:.0f} s)",
            flush=True,
        )
        drain_s = drain(redis.url, answered, pattern, limit)
        crew.stop()
        connection = Redis.from_url(redis.url, socket_timeout=10)
        try:
            counts = audit(
                connection,
                get_settings().queue_name,
                {key: attempts.jobs for key, attempts in records.items()},
                lambda text: found[1] if (found := pattern.search(text)) else None,
            )
        finally:
            connection.close()
    finally:
        if crew is not None:
            crew.stop()
        redis.close()
    answers = Counter(str(status) for a in records.values() for status in a.statuses)
    report = {
        **{k: v for k, v in asdict(settings).items() if k not in ("env", "events")},
        "worker_class": "SimpleWorker" if settings.simple else "Worker",
        "chaos_events_planned": settings.chaos_events,
        "settings": recorded,
        "duration_s": round(time.monotonic() - started, 2),
        "send_s": round(send_s, 2),
        "requests_per_s": round(settings.requests / max(send_s, 1e-9), 1),
        "drain_s": round(drain_s, 2),
        "drain_patience_s": round(limit, 1),
        "answers": dict(sorted(answers.items())),
        "resends": sum(len(a.statuses) for a in records.values()) - len(records),
        "replayed": sum(a.replayed for a in records.values()),
        **counts,
        "never_accepted": [
            {"key": key, "statuses": dict(Counter(a.statuses)), "detail": a.detail}
            for key, a in records.items()
            if not a.jobs
        ],
        "workers_killed": len(crew.kills),
        "workers_exited": len(crew.exits),
        "exits": crew.exits,
        "events": chaos.events,
        "chaos_error": chaos.error,
    }
    report["missed"] = missed(report)
    if chaos.error or len(chaos.events) < settings.chaos_events:
        report["missed"].append(
            f"chaos: only {len(chaos.events)} of {settings.chaos_events} strikes happened"
            + (f" ({chaos.error})" if chaos.error else ", the sending ended first")
        )
    return report

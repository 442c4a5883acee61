"""PROVIDED: one `python -m lab soak` run - keyed POSTs under chaos: is everything accepted
done?

`run()` starts a Redis of its own (redis_server.PrivateServer: a free port, a temporary data
folder, AOF on; chaos never touches the learner's Redis), the API and the workers
(crew.Crew), sends the requests (`send_all()`) while the chaos strikes (crew.Chaos), waits
for the queue to drain (`drain()`) and returns the report, which audit.table() prints.
"""

from __future__ import annotations

import asyncio
import random
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

import httpx
from redis import Redis
from redis.exceptions import RedisError

from lab.support.config import get_settings
from lab.support.experiments.bench.load import http_clients, run_in_thread
from lab.support.experiments.harness import answered
from lab.support.experiments.soak.audit import DONE, audit, job_keys, missed
from lab.support.experiments.soak.crew import Chaos, Crew, Progress
from lab.support.experiments.soak.settings import SoakError, SoakSettings
from lab.support.servers.redis_server import PrivateServer

#: The settings a soak run passes to the API and the workers (and records in its report).
RECORDED = (
    "maintenance_interval", "job_heartbeat", "job_lease", "idempotency_claim_ttl",
    "redis_outage_limit", "worker_ttl", "result_ttl", "serializer", "job_retries",
)  # fmt: skip
#: Answers after which a client sends the same request again (0: no answer came).
RETRYABLE = {0, 408, 409, 425, 429, 500, 502, 503, 504}


def effective(env: Mapping[str, str]) -> dict:
    """The workbook's settings (RECORDED) that processes started with `env` read: this
    process's, but for those `env` gives."""
    settings = get_settings()
    return {
        name: type(getattr(settings, name))(env.get(name.upper(), getattr(settings, name)))
        for name in RECORDED
    }


@dataclass
class Attempts:
    """Every answer one Idempotency-Key got."""

    statuses: list[int] = field(default_factory=list)
    jobs: list[str] = field(default_factory=list)
    replayed: int = 0
    detail: str = ""


async def send_all(
    url: str, settings: SoakSettings, run_id: str, progress: Progress
) -> dict[str, Attempts]:
    """Send every request from `settings.concurrency` clients, each request re-sent after a
    non-202 answer (or none) until a 202 or `resend_for` seconds, as a careful client
    would; return, per Idempotency-Key, what its attempts got."""
    records: dict[str, Attempts] = {}
    left = iter(range(settings.requests))
    jitter = random.Random(settings.seed)

    async def one(client: httpx.AsyncClient, index: int) -> None:
        key = f"{run_id}-{index}"
        attempts = records[key] = Attempts()
        body = {"email": f"{key}@example.com", "delay": settings.delay}
        give_up, pause = time.monotonic() + settings.resend_for, 0.1
        while True:
            try:
                response = await client.post("/emails", json=body, headers={"Idempotency-Key": key})
            except httpx.HTTPError as exc:
                response, attempts.detail = None, type(exc).__name__
            attempts.statuses.append(status := 0 if response is None else response.status_code)
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


def key_pattern(run_id: str) -> re.Pattern[str]:
    """Finds the Idempotency-Key in a job's description: its address is <key>@example.com."""
    return re.compile(rf"'({re.escape(run_id)}-\d+)@example\.com'")


def drain(url: str, ids: set[str], pattern: re.Pattern[str], patience: float) -> float:
    """Wait until every job of the run (those answered, and any other whose description
    names one of its keys) is finished or failed, or until no job has ended for `patience`
    seconds; return the seconds waited."""
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


def run(settings: SoakSettings, say=print) -> dict:  # noqa: ANN001 - print, or a function like it
    """One soak run, start to end; `say` tells what happens meanwhile, a line per phase."""
    started = time.monotonic()
    run_id = f"soak-{secrets.token_hex(4)}"
    redis = PrivateServer()
    crew = None
    try:
        redis.start()
        crew = Crew(settings, redis, started)
        crew.start()
        url = crew.api.url  # type: ignore[union-attr]
        # One POST /emails, without a key: a TODO not written yet stops the soak in one line.
        body = {"email": "preflight@example.com", "delay": 0}
        preflight = answered(httpx.post(f"{url}/emails", json=body, timeout=10))
        if preflight.status_code != 202:
            raise SoakError(f"POST /emails answered {preflight.status_code}: {preflight.text}")
        recorded = effective(crew.env)
        say(
            f"soak: sending {settings.requests} requests at concurrency {settings.concurrency}"
            f" to {settings.package}.producer, {settings.workers} workers, chaos {settings.chaos}",
            flush=True,
        )
        chaos, progress = Chaos(settings, crew, redis, started), Progress()
        thread = threading.Thread(target=chaos.run, args=(progress,), daemon=True)
        thread.start()
        sending = time.monotonic()
        records = run_in_thread(lambda: send_all(url, settings, run_id, progress))
        send_s = time.monotonic() - sending
        progress.done.set()
        thread.join()
        pattern = key_pattern(run_id)
        # An abandoned job is failed a lease and a maintenance interval after its worker
        # died: the drain waits twice that for the next job to end, for margin.
        limit = settings.drain_for
        if limit is None:
            limit = 2 * (recorded["job_lease"] + recorded["maintenance_interval"]) + 20
        say(
            f"soak: sent in {send_s:.0f} s; waiting for the queue to drain (until no job"
            f" ended for {limit:.0f} s)",
            flush=True,
        )
        answers = {key: attempts.jobs for key, attempts in records.items()}
        drain_s = drain(
            redis.url, {job for jobs in answers.values() for job in jobs}, pattern, limit
        )
        crew.stop()
        with Redis.from_url(redis.url, socket_timeout=10) as connection:
            counts = audit(
                connection,
                get_settings().queue_name,
                answers,
                lambda text: found[1] if (found := pattern.search(text)) else None,
                ended=crew.ended(),
            )
    finally:
        if crew is not None:
            crew.stop()
        redis.close()
    statuses = Counter(str(status) for a in records.values() for status in a.statuses)
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
        "answers": dict(sorted(statuses.items())),
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
    if chaos.error:
        report["missed"].append(
            f"chaos: stopped by an error after {len(chaos.events)} strikes ({chaos.error})"
        )
    elif len(chaos.events) < settings.chaos_events:
        report["missed"].append(
            f"chaos: only {len(chaos.events)} of {settings.chaos_events} strikes happened,"
            " the sending ended first"
        )
    return report

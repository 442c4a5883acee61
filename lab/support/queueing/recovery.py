"""PROVIDED: find accepted jobs that no worker will ever run, and queue them again.

A job is lost when its id left the queue's list but no worker went on with it: status
`queued`, yet in no queue list and no registry. That happens when a worker popped the id
(BLMOVE with one queue, BLPOP with several) and then lost Redis before it moved the job
to its started registry: the worker forgets the id and pops the next one. With one queue
the id still sits in `<queue key>:intermediate` (RQ's maintenance FAILS it after a
minute there, although it never ran); with several, it is in no list at all.

recover_lost_jobs() finds both kinds: the ids of the intermediate lists, and job keys
(SCAN, at most `scan_budget` keys a call, resuming where the last call stopped) whose
status is queued and that sit in no list. A suspect is queued again (at the front, in one
MULTI) only when a second look at least `grace` seconds after the first still finds it
lost: a job in flight between a pop and its start takes milliseconds. The workers of
`python -m lab.worker` run it with their maintenance, every MAINTENANCE_INTERVAL seconds;
`python -m lab recover [--dry-run]` runs it once, looking twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence

from redis import Redis
from redis.exceptions import WatchError
from rq import Queue
from rq.registry import StartedJobRegistry

SEEN_KEY = "workbook:recovery:seen"
"""Hash: suspect job id -> when it was first seen lost (Unix time)."""
CURSOR_KEY = "workbook:recovery:cursor"
"""Where the SCAN of job keys goes on at the next call."""
LOCK_KEY = "workbook:recovery:lock"
JOB_PREFIX = "rq:job:"
QUEUED = b"queued"

log = logging.getLogger("lab.recovery")


def recover_lost_jobs(
    connection: Redis,
    queues: Sequence[Queue] | None = None,
    grace: float = 10.0,
    dry_run: bool = False,
    scan_budget: int = 10_000,
) -> list[str]:
    """Queue again the lost jobs of `queues` (default: every queue Redis knows) that were
    already seen lost at least `grace` seconds ago; note the others for the next call.
    Returns the ids queued again (with `dry_run`: those that would be, nothing changed)."""
    queues = list(queues) if queues is not None else Queue.all(connection=connection)
    by_key = {queue.key: queue for queue in queues}
    if not by_key:
        return []
    suspects = find_lost(connection, queues, scan_budget, keep_cursor=not dry_run)
    now = time.time()
    seen = {k.decode(): float(v) for k, v in connection.hgetall(SEEN_KEY).items()}
    # Those seen before and not lost any more, or not seen now: forgotten (unless they
    # were seen by another scan slice: they are checked again one by one).
    for job_id in set(seen) - set(suspects):
        queue_key = still_lost(connection, job_id, by_key)
        if queue_key is None:
            if not dry_run:
                connection.hdel(SEEN_KEY, job_id)
            seen.pop(job_id)
        else:
            suspects[job_id] = queue_key
    recovered = []
    for job_id, queue_key in suspects.items():
        first = seen.get(job_id)
        if first is None:
            if not dry_run:
                connection.hsetnx(SEEN_KEY, job_id, now)
            continue
        if now - first < grace:
            continue
        if dry_run or requeue(connection, job_id, by_key[queue_key]):
            recovered.append(job_id)
            if not dry_run:
                log.warning(
                    "Recovered lost job %s: queued again on %s (lost for %.0f s or more)",
                    job_id,
                    by_key[queue_key].name,
                    now - first,
                )
    if not dry_run:
        connection.expire(SEEN_KEY, 86400)
    return recovered


def find_lost(
    connection: Redis, queues: Sequence[Queue], scan_budget: int, keep_cursor: bool = True
) -> dict[str, str]:
    """{job id: queue key} of the jobs that look lost right now (one look)."""
    found = lost_in_intermediate(connection, queues)
    found.update(lost_anywhere(connection, queues, scan_budget, not keep_cursor))
    return found


def started_ids(connection: Redis, queue: Queue) -> set[str]:
    """Job ids in the queue's started registry (entries are `<job id>:<execution id>`)."""
    registry = StartedJobRegistry(queue.name, connection=connection)
    return {entry.decode().split(":")[0] for entry in connection.zrange(registry.key, 0, -1)}


def lost_in_intermediate(connection: Redis, queues: Iterable[Queue]) -> dict[str, str]:
    """{job id: queue key} of the ids in an intermediate list whose job is queued and not
    started: popped by a worker that never went on with it (or about to, for a moment)."""
    found: dict[str, str] = {}
    for queue in queues:
        ids = [i.decode() for i in connection.lrange(queue.intermediate_queue_key, 0, -1)]
        if not ids:
            continue
        started = started_ids(connection, queue)
        with connection.pipeline(transaction=False) as pipe:
            for job_id in ids:
                pipe.hget(JOB_PREFIX + job_id, "status")
            statuses = pipe.execute()
        for job_id, status in zip(ids, statuses, strict=True):
            if status == QUEUED and job_id not in started:
                found[job_id] = queue.key
    return found


def lost_anywhere(
    connection: Redis, queues: Sequence[Queue], budget: int, dry_run: bool
) -> dict[str, str]:
    """{job id: queue key} of queued jobs of `queues` in no list and not started, among at
    most `budget` job keys, going on from where the previous call stopped."""
    by_name = {queue.name: queue for queue in queues}
    cursor = int(connection.get(CURSOR_KEY) or 0)
    keys: list[bytes] = []
    while len(keys) < budget:
        cursor, batch = connection.scan(cursor, match=JOB_PREFIX + "*", count=1000, _type="hash")
        keys.extend(k for k in batch if k.count(b":") == 2)  # not rq:job:<id>:dependents
        if cursor == 0:
            break
    if not dry_run:
        connection.set(CURSOR_KEY, cursor, ex=86400)
    if not keys:
        return {}
    with connection.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.hmget(key, "status", "origin")
        fields = pipe.execute()
    queued = {
        key.decode()[len(JOB_PREFIX) :]: origin.decode()
        for key, (status, origin) in zip(keys, fields, strict=True)
        if status == QUEUED and origin is not None and origin.decode() in by_name
    }
    if not queued:
        return {}
    found: dict[str, str] = {}
    for name in set(queued.values()):
        queue = by_name[name]
        listed = {i.decode() for i in connection.lrange(queue.key, 0, -1)}
        listed |= {i.decode() for i in connection.lrange(queue.intermediate_queue_key, 0, -1)}
        listed |= started_ids(connection, queue)
        found.update(
            (job_id, queue.key)
            for job_id, origin in queued.items()
            if origin == name and job_id not in listed
        )
    return found


def still_lost(connection: Redis, job_id: str, by_key: dict[str, Queue]) -> str | None:
    """The key of the queue of `job_id` if the job is still lost (queued, in no list but
    maybe its intermediate one, not started), else None."""
    status, origin = connection.hmget(JOB_PREFIX + job_id, "status", "origin")
    if status != QUEUED or origin is None:
        return None
    queue = next((q for q in by_key.values() if q.name == origin.decode()), None)
    if queue is None or connection.lpos(queue.key, job_id) is not None:
        return None
    if job_id in started_ids(connection, queue):
        return None
    return queue.key


def requeue(connection: Redis, job_id: str, queue: Queue) -> bool:
    """Put `job_id` back at the front of `queue` in one transaction, if nothing changed
    it meanwhile (WATCH on the job, its queue and its intermediate list)."""
    job_key = JOB_PREFIX + job_id
    with connection.pipeline() as pipe:
        try:
            pipe.watch(
                job_key, queue.key, queue.intermediate_queue_key, queue.started_job_registry.key
            )
            if pipe.hget(job_key, "status") != QUEUED or pipe.lpos(queue.key, job_id) is not None:
                return False
            pipe.multi()
            pipe.lrem(queue.intermediate_queue_key, 0, job_id)
            pipe.delete(f"{queue.intermediate_queue_key}:first_seen:{job_id}")  # RQ's cleanup's
            pipe.lpush(queue.key, job_id)
            pipe.sadd(Queue.redis_queues_keys, queue.key)
            pipe.hdel(SEEN_KEY, job_id)
            pipe.execute()
            return True
        except WatchError:
            return False


def recover_in_maintenance(
    connection: Redis, queues: Sequence[Queue], interval: float, scan_budget: int = 2_000
) -> list[str]:
    """recover_lost_jobs() as a worker's maintenance runs it: by one worker every `interval`
    seconds (one lock for all, whose name holds no queue's: a queue's keys all go when the
    queue is emptied), for `queues` and every other queue Redis knows, a suspect queued
    again when seen lost twice at least `interval` seconds apart, and at most
    `scan_budget` job keys read per run (10,000 job keys are all read once every 5 runs)."""
    if not connection.set(LOCK_KEY, 1, nx=True, ex=max(1, int(interval) - 1)):
        return []
    known = {queue.key: queue for queue in Queue.all(connection=connection)}
    every = list({**known, **{queue.key: queue for queue in queues}}.values())
    return recover_lost_jobs(connection, every, grace=interval, scan_budget=scan_budget)


def main(names: Sequence[str], dry_run: bool, wait: float) -> int:
    """`python -m lab recover`: look twice, `wait` seconds apart; one line per job."""
    from redis.exceptions import RedisError

    from lab.support.config import get_settings, hide_secrets, safe_url

    url = get_settings().redis_url
    connection = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=10)
    try:
        queues = [Queue(n, connection=connection) for n in names]
        queues = queues or Queue.all(connection=connection)
        by_key = {queue.key: queue for queue in queues}
        everything = 10**9  # every job key, both times
        first = find_lost(connection, queues, everything, keep_cursor=False)
        time.sleep(wait)
        second = find_lost(connection, queues, everything, keep_cursor=False)
        found = [i for i, key in second.items() if first.get(i) == key]
        if not dry_run:
            found = [i for i in found if requeue(connection, i, by_key[second[i]])]
    except RedisError as exc:
        print(f"recover: Redis at {safe_url(url)} does not answer ({hide_secrets(str(exc))}).")
        return 1
    verb = "would queue again" if dry_run else "queued again"
    for job_id in found:
        print(f"{verb}: {job_id}")
    print(f"{len(found)} lost job(s) {verb}.")
    return 0

"""PROVIDED: what `python -m lab soak` counts once the queue drained - read from Redis.

`audit()` compares what the clients were told (the job ids of the 202 answers, per
Idempotency-Key) with what Redis holds: each job's status and where it sits (its queue,
RQ's intermediate list, a registry, or nowhere), the jobs of each key (found by the
address in their description, so that a job whose 202 never reached its client counts
too) and how many times each job ran (RQ 3.0 keeps one result per run, in the stream
rq:results:<id>), and the emails the fake mail provider delivered (its outbox: the
addresses are <key>@example.com), so that an email never delivered, or delivered twice,
counts whatever the jobs' statuses say. `table()` prints it; `missed()` names the targets a
run missed.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence

from redis import Redis
from rq import Queue
from rq.job import Job
from rq.results import Result

from lab.support.queueing import outbox

#: The statuses at which a job is done: it ended one way or the other.
DONE = ("finished", "failed")
#: RQ's registries of a queue, by the name the report gives them.
REGISTRIES = ("started", "finished", "failed", "scheduled", "deferred", "canceled")
_JOB_KEY = re.compile(rb"^rq:job:[^:]+$")


def job_keys(connection: Redis) -> list[str]:
    """The id of every job hash on this database (SCAN, not KEYS: it does not block Redis)."""
    return sorted(
        key.decode()[len("rq:job:") :]
        for key in connection.scan_iter(match="rq:job:*", count=1000)
        if _JOB_KEY.match(key)
    )


def places(connection: Redis, queue_name: str) -> dict[str, list[str]]:
    """job id -> where it sits: "queue <name>", "intermediate" (popped by a worker, not yet
    started: RQ's <queue>:intermediate list) and each registry that holds it."""
    queue = Queue(queue_name, connection=connection)
    lists = {
        f"queue {queue_name}": queue.get_job_ids(),
        "intermediate": queue.intermediate_queue.get_job_ids(),
    }
    for name in REGISTRIES:
        lists[name] = getattr(queue, f"{name}_job_registry").get_job_ids(cleanup=False)
    where: dict[str, list[str]] = {}
    for name, ids in lists.items():
        for job_id in ids:
            where.setdefault(job_id, []).append(name)
    return where


def error_kind(exc_string: str) -> str:
    """A failure's reason in a few words, for grouping: the exception's name."""
    if "AbandonedJobError" in exc_string:
        return "AbandonedJobError (its worker died)"
    if "intermediate queue" in exc_string:
        return "stuck in RQ's intermediate queue"
    lines = [line.strip() for line in exc_string.splitlines() if line.strip()]
    last = lines[-1] if lines else "(no error recorded)"
    return last.split(":")[0][:80]


def audit(
    connection: Redis,
    queue_name: str,
    answers: Mapping[str, Sequence[str]],
    key_of: Callable[[str], str | None],
    ended: Mapping[int, str] | None = None,
) -> dict:
    """What became of the accepted requests, as the soak reports it.

    `answers`: every Idempotency-Key sent -> the job ids its 202 answers gave (empty for a
    key never accepted). `key_of(description)`: the key a job belongs to, from the job's
    description (None: not the soak's job). `ended`: pid -> how that worker process ended,
    for the jobs left started."""
    ids = job_keys(connection)
    with connection.pipeline(transaction=False) as pipe:
        for job_id in ids:
            pipe.hmget(Job.key_for(job_id), "description", "status", "worker_name")
            pipe.xlen(Result.get_key(job_id))
        read = pipe.execute()
    stored: dict[str, dict] = {}
    for job_id, (description, status, worker), runs in zip(ids, read[::2], read[1::2], strict=True):
        key = key_of(description.decode()) if description else None
        if key is None:
            continue
        stored[job_id] = {
            "key": key,
            "status": status.decode() if status else "(none)",
            "worker": worker.decode() if worker else "",
            "runs": runs,
        }
    where = places(connection, queue_name)
    answered = {job_id: key for key, jobs in answers.items() for job_id in jobs}
    jobs_of: dict[str, set[str]] = {key: set(jobs) for key, jobs in answers.items()}
    for job_id, job in stored.items():
        jobs_of.setdefault(job["key"], set()).add(job_id)

    finished = failed = 0
    failures: Counter[str] = Counter()
    lost = []
    for job_id, key in sorted(answered.items()):
        job = stored.get(job_id)
        status = job["status"] if job else "missing"
        if status == "finished":
            finished += 1
        elif status == "failed":
            failed += 1
            runs = results(connection, job_id)
            failures[error_kind((runs[-1].exc_string or "") if runs else "")] += 1
        else:
            lost.append(
                {
                    "job_id": job_id,
                    "key": key,
                    "status": status,
                    "where": where.get(job_id, []) or ["nowhere"],
                    **worker_state(connection, job, ended or {}),
                }
            )
    duplicates = [
        {
            "key": key,
            "jobs": sorted(jobs),
            "answered": sorted(set(answers.get(key, ()))),
        }
        for key, jobs in sorted(jobs_of.items())
        if len(jobs) > 1
    ]
    repeated = [
        {"job_id": job_id, "key": job["key"], "runs": run_kinds(connection, job_id)}
        for job_id, job in sorted(stored.items())
        if job["runs"] > 1
    ]
    sent = Counter(
        job["key"]
        for job_id, job in stored.items()
        for kind in (run_kinds(connection, job_id) if job["runs"] > 1 else [job["status"]])
        if kind in ("finished", "successful")
    )
    unanswered = sorted(job_id for job_id in stored if job_id not in answered)
    delivered = deliveries(connection, key_of)
    accepted_keys = sorted(key for key, jobs in answers.items() if jobs)
    never = [key for key in accepted_keys if not delivered[key]]
    twice = {key: count for key, count in sorted(delivered.items()) if count > 1}
    resent = [job for job in repeated if delivered[job["key"]] > 1]
    return {
        "accepted": sum(1 for jobs in answers.values() if jobs),
        "not_accepted": sum(1 for jobs in answers.values() if not jobs),
        "jobs_in_redis": len(stored),
        "finished": finished,
        "failed": failed,
        "failed_by_error": dict(failures.most_common()),
        "lost": len(lost),
        "lost_jobs": lost,
        "duplicate_keys": len(duplicates),
        "duplicates": duplicates,
        "unanswered_jobs": unanswered,
        "jobs_run_more_than_once": len(repeated),
        "repeated_runs": repeated,
        "keys_sent_more_than_once": sum(1 for count in sent.values() if count > 1),
        "delivered": sum(1 for key in accepted_keys if delivered[key]),
        "never_delivered": len(never),
        "never_delivered_keys": never,
        "delivered_twice": len(twice),
        "delivered_twice_keys": twice,
        "jobs_sent_twice": len(resent),
        "jobs_sent_twice_runs": resent,
    }


def deliveries(connection: Redis, key_of: Callable[[str], str | None]) -> Counter[str]:
    """Idempotency-Key -> how many emails the fake mail provider's outbox holds for it (its
    address is <key>@example.com; `key_of` reads it as in a job's description)."""
    found: Counter[str] = Counter()
    for email in outbox.deliveries(connection):
        key = key_of(repr(email["to"]))
        if key is not None:
            found[key] += 1
    return found


def results(connection: Redis, job_id: str) -> list[Result]:
    """Each run's result of a job, oldest first (RQ 3 keeps one per run, a failure too)."""
    stream = connection.xrange(Result.get_key(job_id), "-", "+")
    return [Result.restore(job_id, key.decode(), payload, connection) for key, payload in stream]


def run_kinds(connection: Redis, job_id: str) -> list[str]:
    """How each run of a job ended, oldest first: "successful", or "failed: <reason>"."""
    return [
        result.type.name.lower()
        + (
            ""
            if result.type == Result.Type.SUCCESSFUL
            else f": {error_kind(result.exc_string or '')}"
        )
        for result in results(connection, job_id)
    ]


def worker_state(connection: Redis, job: dict | None, ended: Mapping[int, str]) -> dict:
    """For a job a worker took: that worker, whether Redis still has its key (it expires
    WORKER_TTL after the last heartbeat), and how its process ended, when it did."""
    if not job or not job["worker"]:
        return {}
    pid = connection.hget(f"rq:worker:{job['worker']}", "pid")
    state = {"worker": job["worker"], "worker_registered": pid is not None}
    if pid is not None:
        state["worker_pid"] = int(pid)
        state["worker_ended"] = ended.get(int(pid), "")
    return state


#: The targets of the issue, and the name each has in the report.
TARGETS = {
    "lost": "answered 202 and never finished nor failed",
    "duplicate_keys": "Idempotency-Keys with more than one job",
    "never_delivered": "accepted emails never delivered (none in the outbox)",
    "delivered_twice": "emails delivered more than once",
    "jobs_sent_twice": "jobs run more than once that sent their email again",
    "workers_exited": "workers that exited without being killed",
    "not_accepted": "requests that never got a 202 although re-sent until the deadline",
}


def missed(report: Mapping) -> list[str]:
    """The targets `report` missed, one phrase each ("lost 2: answered 202 and ...")."""
    return [f"{name} {report[name]}: {what}" for name, what in TARGETS.items() if report[name]]


def worker_said(job: Mapping) -> str:
    """What a lost job's worker became, in words."""
    if not job["worker_registered"]:
        return f"worker {job['worker']} gone from Redis"
    ended = job["worker_ended"] or "running until the soak stopped it"
    return f"worker pid {job['worker_pid']} still registered, {ended}"


def table(report: Mapping) -> str:
    """The report as text: the run, the answers, the counts, the chaos and the verdict."""
    lines = [
        f"soak of {report['package']}: {report['requests']} POST /emails at concurrency"
        f" {report['concurrency']}, {report['workers']} {report['worker_class']}s,"
        f" chaos {report['chaos']} (seed {report['seed']})",
        f"  sent in {report['send_s']:.1f} s ({report['requests_per_s']:.0f} req/s),"
        f" drained in {report['drain_s']:.1f} s; {report['resends']} re-sends",
        "  answers: " + ", ".join(f"{code} x{n}" for code, n in report["answers"].items()),
        f"  accepted {report['accepted']}, finished {report['finished']},"
        f" failed {report['failed']}, lost {report['lost']}",
    ]
    lines += [f"    failed: {n} {why}" for why, n in report["failed_by_error"].items()]
    lines += [
        f"    lost: job {job['job_id']} (key {job['key']}) {job['status']},"
        f" in {', '.join(job['where'])}" + (f"; {worker_said(job)}" if "worker" in job else "")
        for job in report["lost_jobs"][:10]
    ]
    if report["lost"] > 10:
        lines.append(f"    ... and {report['lost'] - 10} more (--json has them all)")
    lines += [
        f"  duplicates: {report['duplicate_keys']} keys with two jobs or more,"
        f" {report['jobs_run_more_than_once']} jobs run more than once,"
        f" {report['keys_sent_more_than_once']} emails sent more than once",
    ]
    lines += [
        f"    ran {len(job['runs'])} times: job {job['job_id']}: {' then '.join(job['runs'])}"
        for job in report["repeated_runs"][:5]
    ]
    lines.append(
        f"  delivered (the outbox): {report['delivered']} of {report['accepted']} accepted"
        f" emails; never delivered {report['never_delivered']}, delivered twice or more"
        f" {report['delivered_twice']}, jobs that ran again and sent again"
        f" {report['jobs_sent_twice']}"
    )
    never = report["never_delivered_keys"]
    if never:
        lines.append(
            f"    never delivered: {', '.join(never[:5])}" + (" ..." if len(never) > 5 else "")
        )
    lines += [
        f"    delivered {count} times: {key}"
        for key, count in list(report["delivered_twice_keys"].items())[:5]
    ]
    if report["not_accepted"]:
        lines.append(f"  never accepted: {report['not_accepted']} keys")
    lines.append(
        f"  workers: {report['workers_killed']} killed by the chaos,"
        f" {report['workers_exited']} exited by themselves"
    )
    lines += [
        f"    exited: worker pid {exit['pid']} ({exit['at']}): {exit['last_line']}"
        for exit in report["exits"][:5]
    ]
    lines += [f"  chaos at {event['at_s']:.1f} s: {event['what']}" for event in report["events"]]
    misses = report.get("missed", missed(report))
    lines.append(
        "  targets missed: " + "; ".join(misses)
        if misses
        else "  targets met: every accepted email delivered once, nothing lost, no key with"
        " two jobs, no worker exited"
    )
    return "\n".join(lines)

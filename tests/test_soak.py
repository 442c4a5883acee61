"""`python -m lab soak` (provided): quick runs with real processes under each chaos kind,
against the issue's targets, and its counting checked on a Redis state built by hand, so
that a broken count cannot pass for a run that lost nothing."""

from __future__ import annotations

import json

import pytest
from rq import Queue

from lab.support.course.reference import copy_checkout
from lab.support.experiments.soak.audit import audit, missed, table
from lab.support.experiments.soak.crew import exited
from lab.support.experiments.soak.run import effective, key_pattern
from lab.support.experiments.soak.settings import QUICK
from lab.support.queueing import outbox
from solutions.tasks import send_fake_email


@pytest.fixture
def soak(python_m):
    """soak(*args, root=...): `python -m lab soak *args` in the checkout `root`."""
    return lambda *args, root=None, **kw: python_m(
        "lab", "soak", *args, **({"root": root} if root else {}), timeout=240, **kw
    )


def check_targets(report: dict) -> None:
    """The issue's targets, and the counts that must add up."""
    assert report["missed"] == [], report["missed"]
    assert report["lost"] == 0, report["lost_jobs"]
    assert report["duplicate_keys"] == 0, report["duplicates"]
    assert report["workers_exited"] == 0, report["exits"]
    assert report["accepted"] == report["requests"], report["never_accepted"][:5]
    assert report["finished"] + report["failed"] == report["accepted"]
    assert report["answers"].get("202", 0) >= report["requests"]


def test_without_chaos_from_a_fresh_clone_every_request_finishes(tmp_path, soak):
    """lab/ holds the untouched stubs: the soak says in one line that it runs solutions/,
    and every one of the --quick run's requests is accepted once and finished."""
    root = copy_checkout(tmp_path / "checkout", lab="stubs")
    out = tmp_path / "soak.json"
    result = soak("--quick", "--json", str(out), root=root)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert "Running the reference solutions/ instead" in result.stderr
    report = json.loads(out.read_text())
    assert report["package"] == "solutions"
    assert report["requests"] == QUICK.requests
    check_targets(report)
    assert report["failed"] == 0 and report["resends"] == 0
    assert report["events"] == [] and report["workers_killed"] == 0
    assert "targets met" in result.stdout


@pytest.mark.parametrize("chaos", ["worker-kill", "redis-restart", "redis-kill"])
def test_under_chaos_nothing_accepted_is_lost(tmp_path, soak, chaos):
    """The chaos strikes as planned, and still: lost 0, duplicate jobs per key 0, workers
    exited 0, every request accepted in the end."""
    out = tmp_path / "soak.json"
    result = soak("--quick", "--package", "solutions", "--chaos", chaos, "--json", str(out))
    report = json.loads(out.read_text())
    assert len(report["events"]) == report["chaos_events_planned"] > 0, report["events"]
    if chaos == "worker-kill":
        assert report["workers_killed"] == 3
        assert all(event["what"].startswith("SIGKILL worker") for event in report["events"])
    else:
        assert all(event["down_s"] >= QUICK.down for event in report["events"])
    check_targets(report)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_worker_killed_every_second_and_every_email_delivered_once(tmp_path, soak):
    """--kill-every 1: a worker is killed every second while the requests are sent, and
    still every accepted email is delivered (in the fake provider's outbox) exactly once:
    its job is run again (JOB_RETRIES) and sends nothing its first run sent."""
    out = tmp_path / "soak.json"
    result = soak(
        "--quick", "--package", "solutions", "--chaos", "worker-kill", "--kill-every", "1",
        "--requests", "600", "--json", str(out),
    )  # fmt: skip
    report = json.loads(out.read_text())
    assert report["kill_every"] == 1.0
    assert report["workers_killed"] >= 3, report["events"]
    starts = [event["at_s"] for event in report["events"]]
    assert all(0.9 <= b - a < 5 for a, b in zip(starts, starts[1:], strict=False)), starts
    check_targets(report)
    assert report["settings"]["job_retries"] == 3
    assert report["delivered"] == report["accepted"] == report["requests"]
    assert report["never_delivered"] == report["delivered_twice"] == 0, report
    assert report["jobs_sent_twice"] == 0, report["jobs_sent_twice_runs"]
    assert "delivered (the outbox): 600 of 600 accepted emails" in result.stdout
    assert result.returncode == 0, result.stdout + result.stderr


def test_emails_never_delivered_are_a_miss(tmp_path, soak):
    """A send_fake_email() that never hands its email to the provider (lab/tasks.py without
    its outbox.send() line): every job finishes, none is lost, and the soak still says MISS,
    with a non-zero exit, because no email was delivered."""
    root = copy_checkout(tmp_path / "checkout", lab="solutions")
    tasks = root / "lab" / "tasks.py"
    text = tasks.read_text()
    assert "    outbox.send(email_address)\n" in text
    tasks.write_text(text.replace("    outbox.send(email_address)\n", ""))
    out = tmp_path / "soak.json"
    result = soak("--quick", "--package", "lab", "--requests", "50", "--json", str(out), root=root)
    report = json.loads(out.read_text())
    assert report["lost"] == 0 and report["finished"] == report["accepted"] == 50
    assert report["delivered"] == 0 and report["never_delivered"] == 50
    assert report["missed"][0].startswith("never_delivered 50:"), report["missed"]
    assert "targets missed: never_delivered 50" in result.stdout
    assert result.returncode == 1


def test_bad_flags_and_no_redis_are_one_line(soak, no_redis_server):
    result = soak("--requests", "0")
    assert result.returncode == 1
    assert result.stderr == "soak: --requests, --concurrency and --workers must be 1 or more.\n"
    result = soak("--kill-every", "2")
    assert result.returncode == 1
    assert result.stderr == "soak: --kill-every takes seconds over 0, with --chaos worker-kill.\n"
    result = soak("--quick", "--package", "solutions", env=no_redis_server)
    assert result.returncode == 1, result.stdout
    assert result.stderr.startswith("soak: cannot start a Redis of its own:")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


# --- the counting, on a state built by hand ------------------------------------------------


def test_audit_counts_lost_jobs_duplicate_keys_and_repeated_runs(redis_conn, run_queued_jobs):
    """Each kind of trouble the soak must find, built in Redis on purpose: an answered job
    taken out of its queue (lost, nowhere), an answered id with no job (lost, missing), a
    key with a second job, a job run twice, a failed job and a key never accepted."""
    queue = Queue("soak-audit", connection=redis_conn)
    run = "soak-t"

    def job(index: int, delay: float = 0):
        return queue.enqueue(send_fake_email, f"{run}-{index}@example.com", delay)

    finished, nowhere, first, second, twice, failing = (
        job(0), job(1), job(2), job(2), job(3), job(6, delay=-1),
    )  # fmt: skip
    redis_conn.lrem(queue.key, 0, nowhere.id)  # answered, then in no queue: lost
    run_queued_jobs(queue)
    queue.enqueue_job(twice)  # the same job queued again (a recovery, a retry): a second run
    run_queued_jobs(queue)
    answers = {
        f"{run}-0": [finished.id],
        f"{run}-1": [nowhere.id],
        f"{run}-2": [first.id, first.id],  # answered twice (a replay): one job
        f"{run}-3": [twice.id],
        f"{run}-4": ["0f0f0f0f-no-such-job"],
        f"{run}-5": [],
        f"{run}-6": [failing.id],
    }
    pattern = key_pattern(run)
    report = audit(
        redis_conn,
        queue.name,
        answers,
        lambda text: found[1] if (found := pattern.search(text)) else None,
    )
    assert (report["accepted"], report["not_accepted"]) == (6, 1)
    assert (report["finished"], report["failed"]) == (3, 1)
    assert report["failed_by_error"] == {"ValueError": 1}
    assert report["lost"] == 2
    lost = {job["key"]: (job["status"], job["where"]) for job in report["lost_jobs"]}
    assert lost == {f"{run}-1": ("queued", ["nowhere"]), f"{run}-4": ("missing", ["nowhere"])}
    assert report["duplicate_keys"] == 1
    assert report["duplicates"][0]["jobs"] == sorted([first.id, second.id])
    assert report["unanswered_jobs"] == [second.id]
    assert report["jobs_run_more_than_once"] == 1
    assert report["repeated_runs"][0]["runs"] == ["successful", "successful"]
    assert report["keys_sent_more_than_once"] == 2  # key 2 (two jobs) and key 3 (two runs)
    full = {
        **report,
        "package": "solutions", "requests": 7, "concurrency": 1, "workers": 1,
        "worker_class": "Worker", "chaos": "none", "seed": 14, "send_s": 1.0,
        "requests_per_s": 7.0, "drain_s": 1.0, "resends": 0, "answers": {"202": 7},
        "workers_killed": 0, "workers_exited": 0, "exits": [], "events": [],
    }  # fmt: skip
    # keys 1, 4 and 6 never sent (never ran, no job, failed first); key 2's two jobs sent
    # two emails; key 3's job ran twice and sent once (outbox.send keys it by the job)
    assert (report["delivered"], report["never_delivered"]) == (3, 3)
    assert report["never_delivered_keys"] == [f"{run}-1", f"{run}-4", f"{run}-6"]
    assert report["delivered_twice_keys"] == {f"{run}-2": 2}
    assert report["jobs_sent_twice"] == 0
    assert [line.split(":")[0] for line in missed(full)] == [
        "lost 2",
        "duplicate_keys 1",
        "never_delivered 3",
        "delivered_twice 1",
        "not_accepted 1",
    ]
    shown = table(full)
    assert f"lost: job {nowhere.id} (key {run}-1) queued, in nowhere" in shown
    assert "targets missed: lost 2" in shown


def test_audit_counts_a_job_that_ran_twice_and_sent_twice(redis_conn, run_queued_jobs):
    """A naive task (outbox.send_receipt: no idempotency key) whose job runs twice sends
    twice: delivered twice, and a job that ran again and sent again; both are misses."""
    queue = Queue("soak-audit", connection=redis_conn)
    naive = queue.enqueue(outbox.send_receipt, "soak-t-0@example.com", 0)
    once = queue.enqueue(send_fake_email, "soak-t-1@example.com", 0)
    run_queued_jobs(queue)
    for job in (naive, once):
        queue.enqueue_job(job)  # a retry: the same job again
    run_queued_jobs(queue)
    pattern = key_pattern("soak-t")
    report = audit(
        redis_conn,
        queue.name,
        {"soak-t-0": [naive.id], "soak-t-1": [once.id]},
        lambda text: found[1] if (found := pattern.search(text)) else None,
    )
    assert report["jobs_run_more_than_once"] == 2
    assert report["delivered"] == 2 and report["never_delivered"] == 0
    assert report["delivered_twice_keys"] == {"soak-t-0": 2}
    assert [job["job_id"] for job in report["jobs_sent_twice_runs"]] == [naive.id]
    misses = [line.split(":")[0] for line in missed({**report, "workers_exited": 0})]
    assert misses == ["delivered_twice 1", "jobs_sent_twice 1"]


def test_audit_finds_a_job_in_the_intermediate_list_and_a_dead_workers_started_job(
    redis_conn,
):
    """A job a worker popped (RQ's <queue>:intermediate list) and one left started by a
    worker whose process ended are lost, each with where it is and what its worker became."""
    queue = Queue("soak-audit", connection=redis_conn)
    popped, started = (
        queue.enqueue(send_fake_email, f"soak-t-{i}@example.com", 0) for i in range(2)
    )
    redis_conn.lmove(queue.key, queue.intermediate_queue_key, "LEFT", "RIGHT")
    redis_conn.lrem(queue.key, 0, started.id)
    redis_conn.hset(started.key, mapping={"status": "started", "worker_name": "w1"})
    redis_conn.zadd(f"rq:wip:{queue.name}", {f"{started.id}:exec1": 1})
    redis_conn.hset("rq:worker:w1", "pid", 4242)
    pattern = key_pattern("soak-t")
    report = audit(
        redis_conn,
        queue.name,
        {"soak-t-0": [popped.id], "soak-t-1": [started.id]},
        lambda text: found[1] if (found := pattern.search(text)) else None,
        ended={4242: "killed by the chaos at 1.0 s"},
    )
    lost = {job["job_id"]: job for job in report["lost_jobs"]}
    assert lost[popped.id]["where"] == ["intermediate"]
    assert lost[popped.id]["status"] == "queued"
    assert lost[started.id]["where"] == ["started"]
    assert lost[started.id]["worker_ended"] == "killed by the chaos at 1.0 s"


def test_a_worker_the_pool_found_dead_is_an_exit_unless_the_chaos_killed_it():
    """The pool's log names each worker it found dead: one the chaos killed is not an exit;
    another is, with the pool's line and the lines before it (other deaths left out)."""
    log = "\n".join(
        [
            "10:00:00 rq.worker: Worker a1: started with PID 101, version 3.0.0",
            "10:00:01 rq.worker: Redis did not answer for 300 s (REDIS_OUTAGE_LIMIT); exiting",
            "10:00:02 rq.worker_pool: Worker b2 with pid 102 is dead",
            "",
            "10:00:03 rq.worker_pool: Worker a1 with pid 101 is dead",
        ]
    )
    [found] = exited(log, killed={102})
    assert found["pid"] == 101
    assert found["at"].endswith("Worker a1 with pid 101 is dead")
    assert found["last_line"].endswith("(REDIS_OUTAGE_LIMIT); exiting")
    assert len(found["last_lines"]) == 2
    assert [e["pid"] for e in exited(log, killed=set())] == [102, 101]


def test_the_recorded_settings_are_the_soak_s_own_over_this_process_s():
    recorded = effective(dict(QUICK.env))
    assert (recorded["job_lease"], recorded["maintenance_interval"]) == (6, 2)
    assert recorded["redis_outage_limit"] == 300  # not given: this process's (the default)

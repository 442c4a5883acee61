"""PROVIDED: the workbook's steps, in order - the one place that lists them.

Each step names its notebook, the functions in lab/ the learner writes (a later step may
add functions to a file an earlier step wrote), the tests that check them, and the hint
`python -m lab check` prints when that step is the first one not done.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    """A step: its notebook and test file (paths from the checkout's root), and the
    functions the learner writes, as "lab/<file>.py:<name>", each holding a region of the
    solution (tests/test_stubs.py checks that they match)."""

    number: str
    title: str
    notebook: str
    functions: tuple[str, ...]
    tests: str
    hint: str

    @property
    def modules(self) -> tuple[str, ...]:
        """The learner's files this step changes."""
        return tuple(dict.fromkeys(f.split(":")[0] for f in self.functions))


STEPS: tuple[Step, ...] = (
    Step(
        "00",
        "Setup: a connection to Redis",
        "notebooks/00_setup.ipynb",
        ("lab/connection.py:get_redis", "lab/connection.py:get_queue"),
        "tests/test_00_connection.py",
        "get_redis() returns Redis.from_url(url or settings.redis_url, ...) with"
        " socket_connect_timeout and socket_timeout set to settings.redis_timeout;"
        " get_queue() returns Queue(name or settings.queue_name, connection=...).",
    ),
    Step(
        "01",
        "Tasks: the slow work",
        "notebooks/01_tasks.ipynb",
        ("lab/tasks.py:send_fake_email",),
        "tests/test_01_tasks.py",
        "send_fake_email() reads get_settings().email_delay when it runs (not at import)"
        " if delay is None, raises ValueError for a negative delay before it logs anything,"
        " logs with log.info() before time.sleep(delay), then hands the email to the fake"
        " mail provider with outbox.send(email_address) and logs again, and returns"
        " f'Task complete: Email sent to {email_address}'.",
    ),
    Step(
        "02",
        "Producer: a FastAPI app that enqueues",
        "notebooks/02_producer.ipynb",
        ("lab/producer.py:trigger_email", "lab/producer.py:create_email"),
        "tests/test_02_producer.py",
        "Both endpoints call queue.enqueue(send_fake_email, ...) - pass the function"
        " itself, not its result - and return {'message': QUEUED_MESSAGE, 'job_id': job.id}.",
    ),
    Step(
        "03",
        "Worker: the consumer",
        "notebooks/03_worker.ipynb",
        ("lab/worker.py:worker_class", "lab/worker.py:build_worker"),
        "tests/test_03_worker.py",
        "worker_class() returns SimpleWorker if simple or sys.platform == 'win32', else"
        " Worker; build_worker() makes one get_queue(connection, name) per name (no names:"
        " the one queue of the QUEUE_NAME setting, get_queue(connection)) and passes the"
        " list and the connection to that class.",
    ),
    Step(
        "04",
        "Blocking vs queued: four strategies",
        "notebooks/04_blocking_vs_queued.ipynb",
        (
            "lab/strategies.py:send_blocking_async",
            "lab/strategies.py:send_blocking_def",
            "lab/strategies.py:send_in_background",
        ),
        "tests/test_04_strategies.py",
        "Both blocking endpoints return {'message': send_fake_email(body.email, body.delay)}"
        " (the same line; only `async def` vs `def` differs); send_in_background() makes"
        " task_id = str(uuid.uuid4()), calls background_tasks.add_task(send_and_record,"
        " task_id, body.email, body.delay) and returns {'message': SCHEDULED_MESSAGE,"
        " 'task_id': task_id}.",
    ),
    Step(
        "05",
        "Status and results: GET /jobs/{job_id}",
        "notebooks/05_status.ipynb",
        (
            "lab/status.py:fetch_job",
            "lab/status.py:describe_job",
            "lab/tasks.py:send_newsletter",
        ),
        "tests/test_05_status.py",
        "fetch_job() calls Job.fetch() with serializer=get_settings().serializer and turns"
        " rq's NoSuchJobError into HTTPException(404); describe_job()"
        " reads job.get_status(refresh=False), the three times, get_position() while"
        " queued, job.meta.get('progress'), retries_left, then job.return_value() or the"
        " last line of job.latest_result().exc_string; send_newsletter() calls"
        " job.save_meta() after each address.",
    ),
    Step(
        "06",
        "Failures and retries",
        "notebooks/06_failures.ipynb",
        (
            "lab/tasks.py:send_flaky_email",
            "lab/tasks.py:record_failure",
            "lab/failures.py:retry_job",
            "lab/failures.py:cancel_job",
            "lab/failures.py:claim_key",
            "lab/failures.py:remember_answer",
        ),
        "tests/test_06_failures.py",
        "send_flaky_email() counts attempts with connection.incr(); record_failure() does"
        " LPUSH then LTRIM; retry_job()/cancel_job() raise HTTPException(409) for other"
        " states, then job.requeue()/job.cancel(); claim_key() is SET with nx=True and"
        " ex=get_settings().idempotency_claim_ttl; remember_answer() SETs the answer with"
        " ex=get_settings().idempotency_ttl.",
    ),
    Step(
        "07",
        "Scaling: N workers on RQ's WorkerPool",
        "notebooks/07_scaling.ipynb",
        ("lab/pool.py:build_pool", "lab/pool.py:pool_size", "lab/tasks.py:hash_chain"),
        "tests/test_07_pool.py",
        "build_pool(): names = list(queue_names) or [get_settings().queue_name], then return"
        " WorkerPool(names, connection=connection or get_redis(), num_workers=processes,"
        " worker_class=worker_class). hash_chain(): raise ValueError if rounds < 0; digest ="
        " seed.encode(); rounds times digest = hashlib.sha256(digest).digest(); return"
        " digest.hex(). pool_size(): raise ValueError unless 0 < cpu_share <= 1 (a chained"
        " comparison refuses NaN and inf too), cores >= 1 and limit >= 1; return"
        " math.floor(min(limit, cores / cpu_share)): the min first, so that an infinite"
        " quotient becomes limit.",
    ),
    Step(
        "08a",
        "Priorities: a queue per priority",
        "notebooks/08_production_patterns.ipynb",
        ("lab/priorities.py:queue_for",),
        "tests/test_08a_priorities.py",
        "queue_for(): if priority not in PRIORITIES: raise ValueError(...) naming it; if"
        " priority == 'default': return queue (the object itself); else return"
        " sibling_queue(queue, priority) - the same connection, job timeout, serializer and"
        " job class.",
    ),
    Step(
        "08b",
        "Scheduling: send_at and send_in",
        "notebooks/08_production_patterns.ipynb",
        ("lab/scheduling.py:schedule_email",),
        "tests/test_08b_scheduling.py",
        "schedule_email(): if body.send_at is not None: return queue.enqueue_at(body.send_at,"
        " send_fake_email, body.email, body.delay); else return queue.enqueue_in("
        "timedelta(seconds=body.send_in), send_fake_email, body.email, body.delay).",
    ),
    Step(
        "08c",
        "Periodic jobs on RQ's cron scheduler",
        "notebooks/08_production_patterns.ipynb",
        ("lab/periodic.py:schedule_digest",),
        "tests/test_08c_periodic.py",
        "schedule_digest(): if every is not None: return scheduler.register(send_digest,"
        " queue_name, args=(queue_name,), interval=every); else return the same"
        " scheduler.register(...) with cron=DIGEST_CRON instead of interval.",
    ),
    Step(
        "08d",
        "A chain of jobs: creating a repository",
        "notebooks/08_production_patterns.ipynb",
        ("lab/repositories.py:queue_repository",),
        "tests/test_08d_repositories.py",
        "queue_repository(): create = queue.enqueue(create_repository, name, delay,"
        " fail_step == 'create'); files = queue.enqueue(add_default_files, name, delay,"
        " fail_step == 'files', depends_on=create); hooks = the same for set_up_webhooks"
        " with depends_on=files; cleanup = queue.enqueue(clean_up, name,"
        " depends_on=Dependency(jobs=[files], allow_failure=True)); return {'create': create,"
        " 'files': files, 'webhooks': hooks, 'cleanup': cleanup}.",
    ),
    Step(
        "08e",
        "A signed, idempotent payment webhook",
        "notebooks/08_production_patterns.ipynb",
        (
            "lab/webhooks.py:signature",
            "lab/webhooks.py:verify_signature",
            "lab/webhooks.py:queue_payment",
        ),
        "tests/test_08e_webhooks.py",
        "signature(): hmac.new(secret.encode(), f'{timestamp}.'.encode() + body,"
        " hashlib.sha256).hexdigest(). verify_signature(): no header: raise BadSignature;"
        " pairs = [part.strip().partition('=') for part in header.split(',')]; the t values and"
        " the v1 values; unless exactly one t, t.isascii() and t.isdigit(), and at least one"
        " v1: raise BadSignature; t = int(t); raise BadSignature (one message for old, one for"
        " ahead) if now - t > tolerance or t - now > tolerance; expected = signature(secret,"
        " t, body); unless any(hmac.compare_digest(expected, v1) for v1 in the v1 values):"
        " raise BadSignature; return t. queue_payment(): try: job = queue.enqueue("
        "process_payment, event, job_id=event['id'], unique=True,"
        " result_ttl=get_settings().idempotency_ttl) except DuplicateJobError: return"
        " event['id'], False; return job.id, True.",
    ),
    Step(
        "09",
        "Monitoring: GET /stats",
        "notebooks/09_monitoring.ipynb",
        ("lab/stats.py:queue_stats", "lab/stats.py:worker_stats"),
        "tests/test_09_stats.py",
        "queue_stats(): head = queue.get_job_ids(0, 1); job = queue.fetch_job(head[0]) if"
        " head else None; age = (now - job.enqueued_at).total_seconds() if job else None;"
        " return {'name': queue.name, 'queued': queue.count, 'started':"
        " queue.started_job_registry.count, ... the same for finished, failed, scheduled,"
        " deferred and canceled, 'oldest_queued_age': age}. worker_stats(): {'name':"
        " worker.name, 'queues': worker.queue_names(), 'state': worker.get_state(),"
        " 'current_job': worker.get_current_job_id(), 'seconds_since_heartbeat': (now -"
        " worker.last_heartbeat).total_seconds(), or None without a last_heartbeat}.",
    ),
    Step(
        "10",
        "The crash lab: an email sent once under at-least-once delivery",
        "notebooks/10_crash_lab.ipynb",
        ("lab/tasks.py:send_email_once",),
        "tests/test_10_delivery.py",
        "send_email_once(): job = get_current_job(); if job is None: raise RuntimeError("
        "'... enqueue it ...'); if not outbox.deliver(job.connection, email_address,"
        " idempotency_key=job.id): log.info(...) that an earlier run sent it;"
        " time.sleep(delay); return f'Task complete: Email sent to {email_address}'.",
    ),
)


def learner_modules() -> tuple[str, ...]:
    """The names of the learner's modules ("connection", "tasks", ...), in step order."""
    files = (module for step in STEPS for module in step.modules)
    return tuple(dict.fromkeys(file.removeprefix("lab/").removesuffix(".py") for file in files))


def step_of_test_file(path: str) -> Step | None:
    """The step whose tests live in `path` (a path ending in the test file's name)."""
    return next((s for s in STEPS if path.replace("\\", "/").endswith(s.tests)), None)


#: The first two hints of each step (`python -m lab hint STEP`): a nudge (what to think
#: about, no API names), then the calls to use and the docs to read. The third, the outline
#: of the code, is the step's `hint` above.
HINTS: dict[str, tuple[str, str]] = {
    "00": (
        "Both functions only build objects: nothing talks to Redis until a command is sent."
        " What should happen when no URL or queue name is passed, and how long may a client"
        " wait for a Redis that does not answer?",
        "redis.Redis.from_url() (https://redis.readthedocs.io/en/stable/connections.html),"
        " its socket_connect_timeout and socket_timeout; rq.Queue(name, connection=...)"
        " (https://python-rq.org/docs/); the settings come from get_settings().",
    ),
    "01": (
        "A task is a plain function a worker imports and calls. When is the default delay"
        " read (at import, or each time the task runs)? What should a negative delay do"
        " before anything is logged?",
        "time.sleep(), log.info() (the module's logger), get_settings().email_delay;"
        " raise ValueError; https://python-rq.org/docs/jobs/ on what a task returns.",
    ),
    "02": (
        "An endpoint that queues work answers before the work is done: it hands the"
        " function and its arguments to the queue it received, and answers with the id of"
        " the job that was made. Pass the function, do not call it.",
        "queue.enqueue(function, *args) returns an rq Job with .id"
        " (https://python-rq.org/docs/#enqueueing-jobs); answer with QUEUED_MESSAGE.",
    ),
    "03": (
        "A worker needs its class (one that forks or not, and what runs on Windows), the"
        " queues it listens to, in order, and the connection. Which queue when none is named?",
        "rq.Worker and rq.SimpleWorker (https://python-rq.org/docs/workers/), sys.platform;"
        " a worker is made as cls(queues, connection=connection), queues a list; your"
        " get_queue(connection, name) from step 00 and get_redis().",
    ),
    "04": (
        "The two blocking endpoints have the same body; what differs is whether FastAPI runs"
        " them on the event loop or in a thread. The background one must answer first and"
        " send after the answer.",
        "FastAPI's `async def` vs `def` (https://fastapi.tiangolo.com/async/);"
        " BackgroundTasks.add_task() (https://fastapi.tiangolo.com/tutorial/background-tasks/);"
        " uuid.uuid4() for the task id; send_and_record().",
    ),
    "05": (
        "A job id may name no job (404, not 500). A job's state, times, position, progress"
        " and result are all on the rq Job; a newsletter's progress must be saved while it"
        " runs, or nobody else can read it.",
        "Job.fetch(id, connection=..., serializer=...) and NoSuchJobError, fastapi's"
        " HTTPException; job.get_status(), enqueued_at/started_at/ended_at, get_position(),"
        " job.meta and job.save_meta(), job.return_value(), job.latest_result().exc_string,"
        " rq.get_current_job() (None outside a job)"
        " (https://python-rq.org/docs/jobs/, https://python-rq.org/docs/results/);"
        " get_settings().serializer.",
    ),
    "06": (
        "Count attempts somewhere that outlives a job run (Redis). A retry or a cancel only"
        " makes sense in some states: refuse the others clearly (409). An Idempotency-Key is"
        " claimed once, atomically, and each stored thing expires.",
        "rq.get_current_job(); connection.incr() and connection.expire(), connection.lpush()"
        " and connection.ltrim(); job.get_status(), job.requeue() (which raises"
        " rq.exceptions.InvalidJobOperation), job.cancel(), HTTPException(409, detail)"
        " (https://python-rq.org/docs/jobs/); connection.set(name, value, nx=True, ex=...),"
        " which returns whether it set (https://redis.io/docs/latest/commands/set/),"
        " connection.get(), connection.delete(); get_settings().idempotency_claim_ttl and"
        " idempotency_ttl.",
    ),
    "07": (
        "A pool is N workers in processes of their own, on the queues and the connection one"
        " worker would use; RQ has a class for it, and your step 00 gives the defaults. A"
        " CPU-bound task hashes its own last digest, raw bytes, not hex: what input is invalid"
        " for it? For the pool's size: how much of one core does a worker of these jobs keep"
        " busy, so how many fill `cores` cores? Which numbers can a float division give, and"
        " which of them can become an int?",
        "rq.worker_pool.WorkerPool(queue_names, connection=, num_workers=, worker_class=) and"
        " its attributes queues, num_workers, worker_class, connection"
        " (https://python-rq.org/docs/workers/#worker-pool); get_settings().queue_name,"
        " get_redis(); hashlib.sha256(data).digest(), bytes.hex()"
        " (https://docs.python.org/3/library/hashlib.html); math.floor(), min(), math.isfinite()"
        " or a chained comparison (NaN fails every comparison:"
        " https://docs.python.org/3/library/math.html#math.isnan).",
    ),
    "08a": (
        "A priority is a queue of its own, made like the app's queue (same connection,"
        " same timeout). Which priority needs no new queue, and what of one that does not exist?",
        "sibling_queue(queue, name), imported from lab.support.api at the top of the file (its"
        " docstring says what it keeps of `queue`), rather than rq.Queue(name, connection=...)"
        " (https://python-rq.org/docs/); PRIORITIES, the three names; raise ValueError(...)."
        " How a worker orders its queues:"
        " https://python-rq.org/docs/workers/#strategies-for-dequeuing-jobs-from-queues.",
    ),
    "08b": (
        "Two ways to say 'later': at a moment, or after a while. A scheduled job waits in a"
        " registry until a worker with a scheduler moves it.",
        "queue.enqueue_at(datetime, func, *args) and queue.enqueue_in(timedelta, func, *args),"
        " each returning the Job (https://python-rq.org/docs/scheduling/);"
        " datetime.timedelta(seconds=...) (https://docs.python.org/3/library/datetime.html).",
    ),
    "08c": (
        "A periodic job is registered once with a scheduler, either every N seconds or on a"
        " cron expression; the scheduler, not your code, enqueues each run.",
        "CronScheduler.register(func, queue_name, args=(...), interval=... or cron=...), which"
        " returns the CronJob (https://python-rq.org/docs/cron/).",
    ),
    "08d": (
        "Each step of the chain may start only when the one before has finished; the clean-up"
        " must run even when a step before it failed.",
        "queue.enqueue(func, *args, depends_on=job), which returns the Job, and"
        " rq.job.Dependency(jobs=[job], allow_failure=True) given as depends_on"
        " (https://python-rq.org/docs/jobs/#job-dependencies).",
    ),
    "08e": (
        "A signature proves who sent the body and when: compute it the way the sender did,"
        " compare it in constant time, refuse old timestamps. A provider re-sends events:"
        " one event id must make one job.",
        "hmac.new(key_bytes, message_bytes, hashlib.sha256).hexdigest() and"
        " hmac.compare_digest(a, b) (https://docs.python.org/3/library/hmac.html); str.split(),"
        " str.partition('='), str.isascii() and str.isdigit() to read the header;"
        " queue.enqueue(func, *args, job_id=..., unique=True, result_ttl=...), which raises"
        " rq.exceptions.DuplicateJobError when a job of that id exists"
        " (https://python-rq.org/docs/jobs/); get_settings().idempotency_ttl.",
    ),
    "09": (
        "Every number GET /stats gives is already counted by RQ: the queue's length, its"
        " registries, each worker's state and last heartbeat. Age is 'now minus a time RQ"
        " stored'.",
        "queue.name, queue.count, queue.started_job_registry.count and the same for"
        " finished, failed, scheduled, deferred and canceled"
        " (https://python-rq.org/docs/job_registries/); queue.get_job_ids(offset, length),"
        " queue.fetch_job(id), job.enqueued_at; worker.name, worker.queue_names(),"
        " worker.get_state(), worker.get_current_job_id(), worker.last_heartbeat"
        " (https://python-rq.org/docs/workers/, https://python-rq.org/docs/monitoring/);"
        " timedelta.total_seconds().",
    ),
    "10": (
        "A job may run twice (its worker died after sending). The provider can tell a"
        " repeat if each send carries a key that stays the same across runs of one job.",
        "rq.get_current_job(), None outside a job"
        " (https://python-rq.org/docs/jobs/#accessing-the-current-job-from-a-task), and the"
        " job's .id and .connection; outbox.deliver(connection, address, idempotency_key=...),"
        " True when it sent; time.sleep(); raise RuntimeError(...).",
    ),
}

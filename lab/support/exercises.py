"""PROVIDED: the workbook's steps, in order - the one place that lists them.

Each step names its notebook, the file in lab/ the learner edits, the tests that check
it, and the hint `python -m lab check` prints when that step is the first one failing.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    number: str
    title: str
    notebook: str
    """Path of the notebook, from the checkout's root."""
    modules: tuple[str, ...]
    """The learner's files this step changes, from the checkout's root (one region or more
    in each; a later step may add regions to a file an earlier step wrote)."""
    tests: str
    """The test file that checks this step, from the checkout's root."""
    hint: str


STEPS: tuple[Step, ...] = (
    Step(
        "00",
        "Setup: a connection to Redis",
        "notebooks/00_setup.ipynb",
        ("lab/connection.py",),
        "tests/test_00_connection.py",
        "get_redis() returns Redis.from_url(url or settings.redis_url, ...) with"
        " socket_connect_timeout and socket_timeout set to settings.redis_timeout;"
        " get_queue() returns Queue(name or settings.queue_name, connection=...).",
    ),
    Step(
        "01",
        "Tasks: the slow work",
        "notebooks/01_tasks.ipynb",
        ("lab/tasks.py",),
        "tests/test_01_tasks.py",
        "send_fake_email() uses get_settings().email_delay when delay is None, raises"
        " ValueError for a negative delay, logs with log.info() before and after"
        " time.sleep(delay), and returns f'Task complete: Email sent to {email_address}'.",
    ),
    Step(
        "02",
        "Producer: a FastAPI app that enqueues",
        "notebooks/02_producer.ipynb",
        ("lab/producer.py",),
        "tests/test_02_producer.py",
        "Both endpoints call queue.enqueue(send_fake_email, ...) - pass the function"
        " itself, not its result - and return {'message': QUEUED_MESSAGE, 'job_id': job.id}.",
    ),
    Step(
        "03",
        "Worker: the consumer",
        "notebooks/03_worker.ipynb",
        ("lab/worker.py",),
        "tests/test_03_worker.py",
        "worker_class() returns SimpleWorker if simple or sys.platform == 'win32', else"
        " Worker; build_worker() makes one get_queue(connection, name) per name and"
        " passes the list and the connection to that class.",
    ),
    Step(
        "04",
        "Blocking vs queued: four strategies",
        "notebooks/04_blocking_vs_queued.ipynb",
        ("lab/strategies.py",),
        "tests/test_04_strategies.py",
        "Both blocking endpoints return {'message': send_fake_email(body.email, body.delay)}"
        " (the same line; only `async def` vs `def` differs); send_in_background() makes"
        " task_id = str(uuid.uuid4()), calls background_tasks.add_task(send_and_record,"
        " task_id, body.email, body.delay) and returns {'message': SCHEDULED_MESSAGE,"
        " 'task_id': task_id}.",
    ),
)


def step_of_test_file(path: str) -> Step | None:
    """The step whose tests live in `path` (a path ending in the test file's name)."""
    for step in STEPS:
        if path.replace("\\", "/").endswith(step.tests):
            return step
    return None

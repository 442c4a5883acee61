"""RQ is extended by subclassing, never patched: no module of lab/ or solutions/ assigns to
an attribute named like a method (or other callable) of RQ's classes, nor calls setattr().
Such an assignment replaces RQ's code on one object, behind RQ's back, and breaks silently
on a new RQ or redis-py release (redis-py 8.2.0 did that to a patched worker stop)."""

from __future__ import annotations

import ast
import inspect

import pytest
from redis.client import PubSubWorkerThread
from rq import Queue, SimpleWorker, Worker, registry
from rq.job import Job
from rq.scheduler import RQScheduler
from rq.worker import BaseWorker, SpawnWorker
from rq.worker_pool import WorkerPool

from lab.support.config import PROJECT_ROOT

RQ_CLASSES = [
    Worker, SimpleWorker, SpawnWorker, BaseWorker, Queue, Job, WorkerPool, RQScheduler,
    PubSubWorkerThread,  # the worker's command thread
    *(cls for _, cls in inspect.getmembers(registry, inspect.isclass)
      if issubclass(cls, registry.BaseRegistry)),
]  # fmt: skip


def callable_names() -> set[str]:
    """The names of the methods, class methods and classes RQ's classes hold."""
    names = set()
    for cls in RQ_CLASSES:
        for name in dir(cls):
            if not name.startswith("__") and callable(getattr(cls, name, None)):
                names.add(name)
    return names


def patches(source: str, names: set[str]) -> list[str]:
    """Each line of `source` that assigns to an attribute in `names`, or calls setattr()."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for part in ast.walk(target):
                    if isinstance(part, ast.Attribute) and part.attr in names:
                        if ast.unparse(part.value).endswith(".state"):
                            continue  # app.state: Starlette's namespace for an app's values
                        found.append(f"line {node.lineno}: assigns .{part.attr}")
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "setattr":
            found.append(f"line {node.lineno}: calls setattr()")
    return found


def test_rq_has_the_methods_this_test_looks_for():
    names = callable_names()
    assert {"work", "teardown", "fetch_job", "handle_dead_worker", "stop"} <= names
    assert "count" in names and "add" in names  # Worker.count(), a registry's add()


@pytest.mark.parametrize(
    "code",
    [  # the patches of the workbook before this test (outage.py, cli.py, monitor.py)
        "setattr(worker, name, rider.guard(getattr(worker, name)))",
        'worker.run_maintenance_tasks = rider.guard(worker.run_maintenance_tasks, "wait")',
        "worker._start_scheduler = rider.guard(starting_scheduler(worker))",
        "queue.acquire_maintenance_lock = short_maintenance_lock(queue, interval)",
        "worker.work = functools.partial(worker.work, dequeue_strategy=strategy)",
        "pool.handle_dead_worker = handle",
        "queue.fetch_job = fetch_job",
        "job.get_status = rider.guard(job.get_status)",
        "self.pubsub_thread.stop, x = stop, 1",
    ],
)
def test_a_patch_is_found(code):
    assert patches(code, callable_names()), code


def test_no_module_patches_rq():
    names = callable_names()
    files = sorted(
        [*(PROJECT_ROOT / "lab").rglob("*.py"), *(PROJECT_ROOT / "solutions").rglob("*.py")]
    )
    assert len(files) > 50, files
    found = {
        str(path.relative_to(PROJECT_ROOT)): lines
        for path in files
        if (lines := patches(path.read_text(encoding="utf-8"), names))
    }
    assert not found, found

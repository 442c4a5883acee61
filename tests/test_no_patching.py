"""RQ and the other libraries are extended by subclassing, never patched: no module of lab/
or solutions/ assigns to an attribute named like a method (or other callable) of RQ's
classes, nor to an attribute of anything it imports (a library's module, class or
function: `rq_dashboard_fast.utils.jobs.Job = SettingJob`), nor calls setattr(). Such an
assignment replaces a library's code on one object or for the whole process, behind its
back, and breaks silently on a new release (redis-py 8.2.0 did that to a patched worker
stop)."""

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
    """Each line of `source` that assigns to an attribute in `names` or to an attribute of
    a name it imports, or calls setattr()."""
    tree = ast.parse(source)
    imported = imported_names(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for part in ast.walk(target):
                    if isinstance(part, ast.Attribute) and part.attr in names:
                        if ast.unparse(part.value).endswith(".state"):
                            continue  # app.state: Starlette's namespace for an app's values
                        found.append(f"line {node.lineno}: assigns .{part.attr}")
                for part in assigned(target):
                    if not isinstance(part, ast.Attribute) or root_name(part) not in imported:
                        continue
                    if not ast.unparse(part.value).endswith(".state"):  # app.state, as above
                        found.append(f"line {node.lineno}: assigns onto imported {root_name(part)}")
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "setattr":
            found.append(f"line {node.lineno}: calls setattr()")
    return found


def imported_names(tree: ast.AST) -> set[str]:
    """The names that `import` and `from ... import` bind in a module, anywhere in it."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.asname or alias.name.partition(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            names |= {alias.asname or alias.name for alias in node.names}
    return names


def assigned(target: ast.expr) -> list[ast.expr]:
    """What an assignment's target assigns to: each element of `a.x, b.y = ...`."""
    if isinstance(target, ast.Tuple | ast.List):
        return [part for each in target.elts for part in assigned(each)]
    if isinstance(target, ast.Starred):
        return assigned(target.value)
    return [target]


def root_name(node: ast.expr) -> str | None:
    """The name an attribute chain starts from: `jobs` in `jobs.Job.fetch`."""
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


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
        # the dashboard's serializer before it was a subclass (api/dashboard.py)
        "from rq_dashboard_fast.utils import jobs as dashboard_jobs\n"
        "from rq_dashboard_fast.utils import workers as dashboard_workers\n"
        "dashboard_jobs.Job, dashboard_workers.Worker = SettingJob, SettingWorker",
        "import rq_dashboard_fast.utils.jobs\nrq_dashboard_fast.utils.jobs.Job = SettingJob",
        "from rq import serializers\nserializers.DefaultSerializer = JSONSerializer",
        "from rq_dashboard_fast import RedisQueueDashboard\nRedisQueueDashboard.prefix = '/x'",
    ],
)
def test_a_patch_is_found(code):
    assert patches(code, callable_names()), code


@pytest.mark.parametrize(
    "code",
    [
        "from lab import app\napp.state.queue = None",  # Starlette's namespace for values
        "from rq import Worker\nworker = Worker([])\nworker.name = 'w'",  # an object's data
        "import os\nself.os = os",
        "import rq\ndef f(job):\n    job.meta = {}",
    ],
)
def test_what_is_no_patch_is_not_found(code):
    assert not patches(code, callable_names()), code


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

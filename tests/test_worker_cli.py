"""`python -m lab.worker`'s provided command line (lab/support/workers/cli.py) on a learner's
lab/ part way through: an unwritten TODO is named in one line, with no traceback."""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

import pytest
from rq import Queue, Worker

from lab.support.course.reference import copy_checkout
from lab.support.servers.processes import Background, poll, start_worker
from lab.support.workers.classes import WorkbookSimpleWorker


@pytest.mark.parametrize(
    ("written", "named"),
    [
        ((), "get_redis() in lab/connection.py"),
        (("connection",), "build_worker() in lab/worker.py"),
    ],
    ids=["nothing-written", "step-00-written"],
)
def test_an_unwritten_todo_is_named_in_one_line(tmp_path, redis_url, python_m, written, named):
    root = copy_checkout(tmp_path / "checkout", lab="stubs")
    for name in written:
        shutil.copy2(root / "solutions" / f"{name}.py", root / "lab" / f"{name}.py")
    result = python_m("lab.worker", "--burst", root=root, timeout=60)
    assert result.returncode == 1
    assert result.stderr == f"lab.worker: {named} is not written yet\n"
    assert "Traceback" not in result.stdout


@pytest.mark.parametrize("package", ["lab", "solutions"])
def test_help_names_the_command_that_was_run(python_m, package):
    shown = python_m(f"{package}.worker", "--help").stdout
    assert shown.startswith(f"usage: python -m {package}.worker ")
    assert "--with-scheduler" in shown


def test_a_misspelt_queue_is_pointed_out(redis_conn):
    """Jobs wait on "default"; a worker started on "defualt" says what it listens on, how
    many jobs wait there and elsewhere, and that the name may be a typo."""
    Queue("default", connection=redis_conn).enqueue("solutions.tasks.send_fake_email", "a@b.c")
    with start_worker("defualt", "--burst", package="solutions") as process:
        assert process.wait(30) == 0
        said = process.output()
    assert "listening on defualt (0 queued)" in said, said
    assert "warning: no job was ever queued on 'defualt'" in said, said
    assert "default (1 queued)" in said, said


def test_a_known_queue_gives_its_length_and_no_warning(redis_conn):
    Queue("empty-now", connection=redis_conn).enqueue("solutions.tasks.send_fake_email", "a@b.c")
    Queue("empty-now", connection=redis_conn).empty()
    Queue("default", connection=redis_conn).enqueue("solutions.tasks.send_fake_email", "a@b.c")
    with start_worker("empty-now", "--burst", package="solutions") as process:
        assert process.wait(30) == 0
        said = process.output()
    assert "listening on empty-now (0 queued)" in said, said
    assert "warning" not in said, f"a queue that held jobs before is no typo: {said}"


def test_a_worker_exits_without_waiting_for_its_command_thread(redis_conn):
    """At exit, RQ 3.0 stops the thread that listens for commands, which waits up to 60 s
    for a message in stock RQ; the workbook's waits COMMAND_POLL seconds at a time. Ten
    exits, as a slow one depends on a race."""
    queue = Queue("exit-promptly", connection=redis_conn)
    for _ in range(10):
        worker = WorkbookSimpleWorker([queue], connection=redis_conn)
        worker.work(burst=True)
        assert not worker.pubsub_thread.is_alive(), "its command thread still waits after exit"


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("0", "expected 1 to 64 processes, not 0"),
        ("1000000", "expected 1 to 64 processes, not 1000000"),
        ("-3", "expected 1 to 64 processes, not -3"),
        ("nan", "expected a whole number, not 'nan'"),
        ("2.5", "expected a whole number, not '2.5'"),
    ],
)
def test_processes_out_of_range_is_one_clear_line(python_m, value, said):
    """--processes takes 1 to 64: anything else is refused before a process starts."""
    result = python_m("solutions.worker", f"--processes={value}", "--burst", timeout=30)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1].endswith(f"argument --processes: {said}")
    assert "Traceback" not in result.stderr


def test_simple_and_spawn_cannot_be_combined(python_m):
    result = python_m("solutions.worker", "--simple", "--spawn", "--burst", timeout=30)
    assert result.returncode == 2
    assert "not allowed with argument --simple" in result.stderr


def test_an_unknown_dequeue_strategy_is_one_clear_line(python_m):
    """--dequeue-strategy takes default, round_robin or random: anything else exits 2."""
    result = python_m("solutions.worker", "--dequeue-strategy", "fastest", "--burst", timeout=30)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1].endswith(
        "argument --dequeue-strategy: invalid choice: 'fastest' (choose from 'default',"
        " 'round_robin', 'random')"
    ), result.stderr
    assert "Traceback" not in result.stderr


def test_stopping_a_background_process_also_ends_what_it_left_in_its_group(tmp_path):
    """Background.stop() kills a child the process left running (as RQ's scheduler can be)."""
    pid_file = tmp_path / "child.pid"
    leave_a_child = (
        "import subprocess, sys;"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']);"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))"
    )
    process = Background("leaver", [sys.executable, "-c", leave_a_child])
    assert process.wait(30) == 0
    child = int(pid_file.read_text())
    assert alive(child), "the child should still run after its parent exited"
    process.stop()
    deadline = time.monotonic() + 5
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child), f"the child {child} still runs after stop()"


def alive(pid: int) -> bool:
    """Whether `pid` runs: a zombie (killed, not yet reaped) does not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:  # no /proc (macOS), or gone just now
        return True


@pytest.mark.parametrize("flags", [("--simple",), ("--simple", "--processes", "2")])
def test_worker_ttl_sets_how_long_redis_keeps_a_silent_worker(redis_conn, flags):
    """WORKER_TTL=16: Redis keeps each worker of the command (of a pool too) WORKER_TTL + 60
    = 76 s after a heartbeat (480 s with RQ's default of 420)."""
    count = 2 if "--processes" in flags else 1
    with start_worker(*flags, package="solutions", env={"WORKER_TTL": "16"}):
        workers = poll(
            lambda: Worker.all(connection=redis_conn),
            lambda found: len(found) == count,
            f"{count} workers to register",
            timeout=15,
        )[-1]
        kept = [redis_conn.ttl(worker.key) for worker in workers]
    assert all(60 < ttl <= 76 for ttl in kept), f"Redis keeps the workers {kept} s, not 76"

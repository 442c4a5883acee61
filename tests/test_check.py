"""`python -m lab check`: progress per step on a learner's lab/."""

from __future__ import annotations

import os
import shutil

import pytest
from plugins.groups import LAB_CHECK
from plugins.redis import CLAIM_KEY, TEST_DBS, with_db
from redis import Redis

from lab.support.course.check import (
    FULL,
    QUICK,
    WORKERS,
    StepNotDone,
    StepResult,
    check_step,
    progress,
    report,
    run_tests,
)
from lab.support.course.exercises import STEPS
from lab.support.course.reference import copy_checkout
from lab.support.course.stubs import make_stub
from lab.support.servers.processes import free_port


@LAB_CHECK
def test_progress_from_not_started_to_passed_and_failing(tmp_path, redis_url, python_m):
    root = copy_checkout(tmp_path / "checkout", lab="stubs")
    # A learner who finished step 00, got step 01 wrong, and has not started the others.
    shutil.copy2(root / "solutions" / "connection.py", root / "lab" / "connection.py")
    tasks = solved_up_to((root / "solutions" / "tasks.py").read_text(), regions=1)
    (root / "lab" / "tasks.py").write_text(tasks.replace("Task complete", "Done"))

    result = python_m("lab", "check", root=root)
    lines = result.stdout.splitlines()
    assert result.returncode == 1
    assert any(line.split()[:1] == ["00"] and line.endswith("passed") for line in lines)
    assert any(line.split()[:1] == ["01"] and "failing" in line for line in lines)
    assert sum("not started" in line for line in lines) == len(STEPS) - 2
    assert "Next: step 01, notebooks/01_tasks.ipynb - edit lab/tasks.py." in result.stdout
    assert "hint: python -m lab hint 01" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_without_any_redis_it_says_what_to_do(tmp_path, no_redis_server, python_m):
    root = copy_checkout(tmp_path / "checkout", lab="stubs")
    shutil.copy2(root / "solutions" / "connection.py", root / "lab" / "connection.py")
    url = f"redis://127.0.0.1:{free_port()}/0"
    result = python_m("lab", "check", root=root, env={**no_redis_server, "REDIS_URL": url})
    assert result.returncode == 2
    assert "The tests could not run" in result.stderr
    assert "no redis-server or valkey-server was found" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_with_every_test_database_taken_it_says_so_rather_than_pass(
    tmp_path, private_redis, python_m
):
    """A test session that finds no database of its own stops the run: `python -m lab
    check` says so, and does not count the tests that did run as the whole step."""
    root = copy_checkout(tmp_path / "checkout", lab="stubs")
    shutil.copy2(root / "solutions" / "connection.py", root / "lab" / "connection.py")
    for db in TEST_DBS:
        Redis.from_url(with_db(private_redis.url, db)).set(CLAIM_KEY, "another run", ex=600)
    result = python_m("lab", "check", root=root, env={"REDIS_URL": private_redis.url})
    assert result.returncode == 2, result.stdout + result.stderr
    assert "The tests could not run" in result.stderr
    assert "are all claimed by test runs" in result.stderr
    assert "passed" not in result.stdout


def test_a_database_claim_names_the_process_that_releases_it(redis_conn, request):
    """Under xdist the controller empties and releases its workers' databases after they
    ended: the claim names the controller, so that no other run takes the database over
    meanwhile (two copies of `python -m lab report` lost a job that way)."""
    holder = int(redis_conn.get(CLAIM_KEY))
    if hasattr(request.config, "workerinput"):
        assert holder == os.getppid() != os.getpid(), "the claim names the worker"
    else:
        assert holder == os.getpid()


def solved_up_to(source: str, regions: int) -> str:
    """`source` (a solution file) with its first `regions` regions written and the rest
    stubbed, as a learner has it part way through the workbook."""
    lines, kept = [], 0
    for line in source.splitlines(keepends=True):
        marker = line.strip().startswith(("# BEGIN SOLUTION", "# END SOLUTION"))
        if marker and kept < 2 * regions:
            kept += 1
            continue
        lines.append(line)
    return make_stub("".join(lines), "solutions/tasks.py")


@LAB_CHECK
def test_a_step_whose_functions_are_todo_is_not_started_though_its_file_changed(
    tmp_path, redis_url
):
    """Steps 05 and 06 add functions to lab/tasks.py, which step 01 wrote."""
    root = copy_checkout(tmp_path / "checkout", lab="stubs")
    source = (root / "solutions" / "tasks.py").read_text()
    (root / "lab" / "tasks.py").write_text(solved_up_to(source, regions=1))
    results = {r.step.number: r for r in progress(root)}
    assert results["01"].state == "passed"
    assert results["05"].state == results["06"].state == "not started"
    assert results["05"].total == 0  # its tests did not even run


def test_a_check_cell_of_a_step_not_started_runs_no_test(tmp_path, capsys, monkeypatch):
    root = copy_checkout(tmp_path / "checkout", lab="stubs")
    monkeypatch.setattr("lab.support.course.check.run_tests", lambda *args, **kwargs: 1 / 0)
    with pytest.raises(StepNotDone) as stopped:  # the notebook's run stops at this cell
        check_step("06", root)
    shown = stopped.value._render_traceback_()
    assert len(shown) == 1, "one line, no traceback"
    assert shown[0].startswith("Step 06 is not started: write send_flaky_email() and")
    assert "remember_answer() in lab/failures.py" in shown[0]
    assert "python -m lab hint 06" in shown[0]
    assert capsys.readouterr().out == ""


#: A test file of 24 tests that say which xdist worker ran them; every sixth is in a group.
WORKER_REPORTS = """
import os, pytest

together = pytest.mark.xdist_group("together")
params = [pytest.param(n, marks=together if n % 6 == 0 else ()) for n in range(24)]

@pytest.mark.parametrize("n", params)
def test_n(n, record_property):
    record_property("worker", os.environ["PYTEST_XDIST_WORKER"])
"""


@LAB_CHECK
def test_the_workers_share_a_files_tests_without_gaps_or_overlaps(tmp_path, redis_url):
    """A check cell runs its step's tests in one pytest run, shared out among WORKERS
    xdist workers: each test once, each worker some of them, a group's tests on one worker
    (`make test` relies on xdist_group too)."""
    root = copy_checkout(tmp_path / "checkout", lab="stubs")
    (root / "tests" / "test_many.py").write_text(WORKER_REPORTS)
    every = [f"test_n[{n}]" for n in range(24)]
    outcomes = run_tests(["tests/test_many.py"], root, marks=None)
    assert sorted(o.name for o in outcomes) == sorted(every)
    assert all(o.state == "passed" for o in outcomes)
    assert len({o.properties["worker"] for o in outcomes}) == WORKERS  # each worker ran some
    grouped = {o.properties["worker"] for o in outcomes if int(o.name[7:-1]) % 6 == 0}
    assert len(grouped) == 1, f"xdist_group's tests ran on {sorted(grouped)}"


@LAB_CHECK
def test_a_check_cell_stops_the_notebook_on_a_failing_step_and_passes_a_done_one(
    tmp_path, capsys, redis_url
):
    """A step whose tests fail raises one line (how many pass, the first failure, the hint
    command); once it is done, the cell prints that it passed."""
    root = copy_checkout(tmp_path / "checkout", lab="stubs")
    solved = (root / "solutions" / "connection.py").read_text()
    (root / "lab" / "connection.py").write_text(solved.replace("socket_timeout=", "retry=None, x="))
    with pytest.raises(StepNotDone) as stopped:
        check_step("00", root)
    (line,) = stopped.value._render_traceback_()
    assert line.startswith("Step 00 is not done yet: "), line
    assert "first failing: " in line and "python -m lab hint 00" in line, line
    assert "python -m pytest tests/test_00_connection.py" in line, line
    shutil.copy2(root / "solutions" / "connection.py", root / "lab" / "connection.py")
    check_step("00", root)
    assert capsys.readouterr().out.startswith("Step 00 passed: every test in")


#: Two exercise tests (they use `impl`), one of them end-to-end.
QUICK_AND_E2E = """
import pytest

def test_quick(impl):
    pass

@pytest.mark.e2e
def test_end_to_end(impl):
    pass
"""


@LAB_CHECK
def test_lab_check_leaves_the_end_to_end_tests_to_full(tmp_path, redis_url):
    """`python -m lab check` runs the quick tests (QUICK); --full and the check cells every
    exercise test (FULL); the report of a quick check says how to run the rest."""
    root = copy_checkout(tmp_path / "checkout", lab="stubs")
    (root / "tests" / "test_two.py").write_text(QUICK_AND_E2E)
    assert [o.name for o in run_tests(["tests/test_two.py"], root, QUICK)] == ["test_quick"]
    ran = sorted(o.name for o in run_tests(["tests/test_two.py"], root, FULL))
    assert ran == ["test_end_to_end", "test_quick"]
    done = [StepResult(step, "passed", 1, 1) for step in STEPS]
    assert "python -m lab check --full" in report(done, full=False)
    assert report(done, full=True).endswith("Every step passes. Well done!")

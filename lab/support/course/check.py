"""PROVIDED: `python -m lab check` - how far along is your lab/?

Runs each started step's tests against lab/ (one pytest run, its tests shared out among a
few processes) and prints one line per step - passed, failing or not started - then a hint
for the first step that is not done. By default the quick tests only: the end-to-end ones
(marked e2e: real workers, APIs and schedulers started as processes) with --full, and
always in a notebook's check cell, which checks one step.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from lab.support.config import PROJECT_ROOT
from lab.support.course.exercises import STEPS, Step, step_of_test_file
from lab.support.course.stubs import NOT_DONE
from lab.support.servers import redis_server
from lab.support.servers.processes import child_env


@dataclass
class StepResult:
    step: Step
    state: str = "not started"
    passed: int = 0
    total: int = 0
    failures: list[str] = field(default_factory=list)


#: The name of the user property on a failing exercise test's report that holds its one
#: line, "<expected> | got: <message> | look at: <code>" (tests/plugins/messages.py).
EXPLAINED = "explained"


@dataclass
class Outcome:
    """One test's result, from pytest's JUnit report. `state`: passed, failed (a failure or
    an error) or skipped; `line`: where the test is in its file; `text`: the whole report
    of a failure (nbval's diff, a traceback); `properties`: its user properties (EXPLAINED)."""

    file: str
    name: str
    state: str
    message: str = ""
    line: int = 0
    text: str = ""
    properties: dict[str, str] = field(default_factory=dict)

    def first_line(self) -> str:
        """What `python -m lab check` shows of a failure: its EXPLAINED line (what was
        expected, what happened, where to look), else the first line of its message."""
        lines = (self.properties.get(EXPLAINED) or self.message).strip().splitlines()
        return lines[0] if lines else "?"


def read_report(report: Path) -> list[Outcome]:
    """Each test's outcome in pytest's JUnit report `report` (junit_family=xunit1)."""
    outcomes = []
    for case in ET.parse(report).getroot().iter("testcase"):
        problem = case.find("failure")
        problem = case.find("error") if problem is None else problem
        skipped = case.find("skipped") is not None
        state = "passed" if problem is None else "failed"
        state = "skipped" if problem is None and skipped else state
        said = ("", "") if problem is None else (problem.get("message") or "", problem.text or "")
        where = (case.get("file", ""), without_group(case.get("name", "")))
        properties = {p.get("name", ""): p.get("value", "") for p in case.iter("property")}
        line = int(case.get("line") or 0)
        outcomes.append(Outcome(*where, state, said[0], line, said[1], properties))
    return outcomes


def without_group(name: str) -> str:
    """A test's name without the "@group" that xdist's --dist loadgroup appends to the
    names of tests marked xdist_group (an "@" inside the parameters' brackets stays)."""
    at = name.rfind("@")
    return name[:at] if at > name.rfind("]") else name


#: How many xdist workers run the tests of `python -m lab check` and of a check cell. Their
#: tests mostly wait (for sleeps, workers and uvicorn), so more workers than the two cores
#: of a small laptop pay; each costs a start of pytest and a collection (~1.4 s of CPU).
#: At most 15: each worker claims a test database of its own (tests/plugins/redis.py).
WORKERS = 3
#: Which tests run (pytest -m): every exercise test of a step, or all but the end-to-end ones.
FULL = "exercise"
QUICK = "exercise and not e2e"
#: Up to this many files of quick tests run in one process: xdist's start-up (a pytest and a
#: collection per worker) cost more than it saved (4 steps' quick tests: 4.7 s, 6.5 s on 3).
FEW_FILES = 4


def run_tests(
    files: list[str], root: Path = PROJECT_ROOT, marks: str | None = FULL
) -> list[Outcome]:
    """Run the test files `files` (paths from `root`) against `root`'s lab/, in one pytest
    run on WORKERS xdist processes (a file's slow tests spread), Redis started if none
    answers (and stopped after); each test's outcome, in the order of `files`. Only the
    tests `marks` selects (pytest -m; None: all). A RuntimeError with the end of pytest's
    output when no test could run."""
    try:
        redis = redis_server.start()
    except redis_server.RedisUnavailable as exc:
        raise RuntimeError(f"The tests could not run:\n{exc}") from None
    try:
        outcomes, said = run_pytest(files, root, marks)
    finally:
        if redis.started_now:
            redis_server.stop()
    if not outcomes:
        raise RuntimeError(f"The tests could not run:\n{said}")
    # In the order of the files, and of the tests in each file (workers report as they end).
    return sorted(outcomes, key=lambda o: (files.index(o.file) if o.file in files else -1, o.line))


def run_pytest(files: list[str], root: Path, marks: str | None) -> tuple[list[Outcome], str]:
    """The outcomes of the tests in `files` and the end of what pytest printed (a file
    that cannot be collected does not stop the others); a RuntimeError if pytest could not
    report."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.xml"
        workers = 0 if marks == QUICK and len(files) <= FEW_FILES else WORKERS
        command = [
            sys.executable, "-m", "pytest", "--impl=lab", "-q", "-p", "no:warnings",
            "-p", "xdist.plugin", f"--numprocesses={workers}", "--dist=loadgroup",
            "-o", "junit_family=xunit1", f"--junitxml={report}",
            "--continue-on-collection-errors",
            *(["-m", marks] if marks else []), *files,
        ]  # fmt: skip
        # No third-party pytest plugins but xdist: nbval's alone took ~1.4 s to import at
        # each check (in each worker, now).
        env = child_env({"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}, root=root)
        ran = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)
        said = "\n".join((ran.stdout + ran.stderr).strip().splitlines()[-12:])
        # 0: all passed, 1: some failed, 5: none selected. Anything else stopped the run part
        # way (interrupted, say because every test database was taken): its report lacks
        # tests, and a step would pass on the ones that ran.
        if not report.exists() or ran.returncode not in (0, 1, 5):
            raise RuntimeError(f"The tests could not run:\n{said}")
        return read_report(report), said


def run_step_tests(
    steps: list[Step], root: Path = PROJECT_ROOT, marks: str = FULL
) -> dict[str, StepResult]:
    """Run the tests of `steps` against lab/ (run_tests: one pytest run, several workers)."""
    results = {step.number: StepResult(step) for step in steps}
    if not steps:
        return results
    for outcome in run_tests([step.tests for step in steps], root, marks):
        step = step_of_test_file(outcome.file)
        if step is None or step.number not in results:
            continue
        result = results[step.number]
        result.total += 1
        if outcome.state == "passed":
            result.passed += 1
        elif outcome.state == "failed":
            result.failures.append(f"{outcome.name}: {outcome.first_line()}")
    for result in results.values():
        result.state = "passed" if result.total and result.passed == result.total else "failing"
    return results


def is_todo(root: Path, function: str) -> bool:
    """Whether "lab/<file>.py:<name>" in the checkout `root` still raises the stub's
    NotImplementedError: not started. A file that does not parse counts as started."""
    path, name = function.split(":")
    source = (root / path).read_text()
    try:
        nodes = ast.walk(ast.parse(source))
    except SyntaxError:
        return False
    functions = (ast.FunctionDef, ast.AsyncFunctionDef)
    found = (n for n in nodes if isinstance(n, functions) and n.name == name)
    return NOT_DONE in (ast.get_source_segment(source, next(found, ast.Pass())) or "")


def is_started(step: Step, root: Path = PROJECT_ROOT) -> bool:
    """Whether the learner has written any of `step`'s functions (its tests run only then)."""
    return not all(map(partial(is_todo, root), step.functions))


def progress(root: Path = PROJECT_ROOT, marks: str = FULL) -> list[StepResult]:
    """One result per step, in order."""
    started = [step for step in STEPS if is_started(step, root)]
    ran = run_step_tests(started, root, marks)
    return [ran.get(step.number, StepResult(step)) for step in STEPS]


def todo_list(step: Step) -> str:
    """The functions `step` asks for, by file: "send_flaky_email() and record_failure() in
    lab/tasks.py; retry_job(), ... and remember_answer() in lab/failures.py"."""
    parts = []
    for path in step.modules:
        names = [f"{f.split(':')[1]}()" for f in step.functions if f.split(":")[0] == path]
        listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
        parts.append(f"{listed} in {path}")
    return "; ".join(parts)


def files(step: Step) -> str:
    return " and ".join(step.modules)


def report(results: list[StepResult], full: bool = True) -> str:
    which = "their tests" if full else "their quick tests; --full adds the end-to-end ones"
    lines = [f"Workbook progress (your lab/ files, checked by {which}):"]
    for r in results:
        counts = f" ({r.passed}/{r.total} tests pass)" if r.state == "failing" else ""
        lines.append(f"  {r.step.number}  {r.step.title:<40} {r.state}{counts}")
    todo = next((r for r in results if r.state != "passed"), None)
    if todo is None and not full:
        lines.append("Every step passes its quick tests. Before you hand in, run the")
        lines.append("end-to-end ones too (real workers and APIs): python -m lab check --full")
        return "\n".join(lines)
    if todo is None:
        lines.append("Every step passes. Well done!")
        return "\n".join(lines)
    step = todo.step
    lines += ["", f"Next: step {step.number}, {step.notebook} - edit {files(step)}."]
    lines += [f"  failing: {failure}" for failure in todo.failures[:3]]
    lines += [f"  hint: python -m lab hint {step.number}"]
    lines += [f"  details: python -m pytest {step.tests}"]
    return "\n".join(lines)


def main(full: bool = False) -> int:
    try:
        results = progress(marks=FULL if full else QUICK)
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(report(results, full))
    return 0 if all(r.state == "passed" for r in results) else 1


class StepNotDone(Exception):
    """A check cell's verdict on a step not done: it stops the notebook's run there.

    Jupyter shows an exception that has `_render_traceback_()` by the lines it returns
    (IPython's documented hook), so the learner reads the verdict, not a traceback."""

    def _render_traceback_(self) -> list[str]:
        return [str(self)]


def check_step(number: str, root: Path = PROJECT_ROOT) -> None:
    """Run one step's tests against lab/ and print the verdict (notebook check cells); a
    step not done raises StepNotDone, whose one line says what to write and where to find
    hints, so that running the notebook stops there. A step not started runs no test
    (they would all fail): it costs nothing."""
    step = next(s for s in STEPS if s.number == number)
    hint = f"`python -m lab hint {step.number}` for a hint"
    if not is_started(step, root):
        raise StepNotDone(f"Step {number} is not started: write {todo_list(step)} ({hint}).")
    try:
        result = run_step_tests([step], root)[number]
    except RuntimeError as exc:
        raise StepNotDone(f"Step {number} could not be checked: {exc}") from None
    if result.state == "passed":
        print(f"Step {number} passed: every test in {step.tests} passes on your {files(step)}.")
        return
    first = f"; first failing: {result.failures[0]}" if result.failures else ""
    raise StepNotDone(
        f"Step {number} is not done yet: {result.passed} of {result.total} tests pass"
        f"{first} ({hint}; details: python -m pytest {step.tests})."
    )

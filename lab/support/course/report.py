"""PROVIDED (instructors): `python -m lab report PATH...`, a class's progress in one table.

Each PATH is a learner's copy: a folder, or a git repository (a URL, or a path ending in
.git) that is cloned. Only the learner's files (lab/<module>.py of the steps) are taken,
into a fresh copy of this checkout each, in a temporary folder: the learner's code runs
there, never in the instructor's checkout, in a process group that is killed after
`--timeout` seconds. Each copy's tests run as `python -m lab check` runs them (its own
test databases): the quick ones, or with --full the end-to-end ones too. The report is
written as Markdown and HTML: learner x step, then totals.
"""

from __future__ import annotations

import html
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from lab.support.course.check import FULL, QUICK
from lab.support.course.exercises import STEPS, learner_modules
from lab.support.course.reference import copy_checkout
from lab.support.servers import redis_server
from lab.support.servers.processes import child_env

LEARNER_FILES = tuple(f"lab/{module}.py" for module in learner_modules())
#: Copies checked at once, by default: with the quick tests two (30 copies: 284 s, and the
#: same table as one at a time, 405 s); with --full one, since every check already runs 3
#: pytest workers on 2 cores and step 04's timing tests failed on complete copies when 4
#: copies ran at once (30 copies took 903 s either way).
JOBS = {QUICK: 2, FULL: 1}
#: Seconds a copy past its time limit has to stop its own processes after a Ctrl-C.
STOP_GRACE = 15
#: Run in the copy: its steps' results as JSON on stdout (the copy's own kit, same as ours).
#: Formatted with the pytest -m expression of the tests to run (check.QUICK or FULL).
PROBE = """
import json
from lab.support.course.check import progress
print(json.dumps([{{"step": r.step.number, "state": r.state, "passed": r.passed,
                   "total": r.total, "failures": r.failures}} for r in progress(marks={!r})]))
"""


@dataclass
class Copy:
    name: str
    source: str
    steps: dict[str, dict] = field(default_factory=dict)
    problem: str = ""
    seconds: float = 0.0


def learner_files(source: str, into: Path) -> Path:
    """The folder holding the learner's copy `source`: itself, or a shallow clone."""
    path = Path(source)
    if path.is_dir() and not source.endswith(".git"):
        return path
    if not path.exists() and "://" not in source and "@" not in source:
        raise OSError(f"no folder {source}")
    clone = into / "clone"
    subprocess.run(
        ["git", "clone", "--quiet", "--depth", "1", source, str(clone)],
        check=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return clone


def prepare(source: str, work: Path) -> Path:
    """A fresh checkout in `work` with the learner's files of `source` in its lab/."""
    found = learner_files(source, work)
    checkout = copy_checkout(work / "checkout", lab="stubs")
    for name in LEARNER_FILES:
        if (found / name).is_file():
            shutil.copyfile(found / name, checkout / name)
    return checkout


def check(copy: Copy, timeout: float, marks: str = QUICK) -> Copy:
    """Run the steps' tests of `copy` in a checkout of its own; fill in its results."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="lab-report-") as tmp:
        try:
            checkout = prepare(copy.source, Path(tmp))
        except (OSError, subprocess.SubprocessError) as exc:
            copy.problem = f"could not be read: {getattr(exc, 'stderr', '') or exc}".strip()
            return copy
        process = subprocess.Popen(
            [sys.executable, "-c", PROBE.format(marks)], cwd=checkout, env=child_env(root=checkout),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        )  # fmt: skip
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            # Ctrl-C first: pytest's fixtures then stop the servers and workers they started
            # (in sessions of their own, out of this group's reach); then whatever is left.
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.communicate(timeout=STOP_GRACE)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.communicate()
            copy.problem = f"timed out after {timeout:g} s"
        else:
            try:
                copy.steps = {row["step"]: row for row in json.loads(out.splitlines()[-1])}
            except (IndexError, ValueError):
                copy.problem = "the check did not run: " + (err.strip().splitlines() or ["?"])[-1]
    copy.seconds = time.monotonic() - started
    return copy


def cell(copy: Copy, number: str) -> str:
    if copy.problem:
        return "?"
    row = copy.steps.get(number, {})
    if row.get("state") == "passed":
        return "passed"
    if row.get("state") == "failing":
        first = row["failures"][0] if row["failures"] else "no test passed"
        return f"failing ({row['passed']}/{row['total']}): {first}"
    return "not started"


def table(copies: list[Copy]) -> list[list[str]]:
    """The header, a row per learner, then the totals per step."""
    rows = [["learner", *(step.number for step in STEPS), "note"]]
    for copy in copies:
        rows.append([copy.name, *(cell(copy, s.number) for s in STEPS), copy.problem])
    for state in ("passed", "failing", "not started"):
        counts = [sum(cell(c, s.number).startswith(state) for c in copies) for s in STEPS]
        rows.append([f"total {state}", *map(str, counts), ""])
    return rows


def markdown(rows: list[list[str]]) -> str:
    def line(row: list[str]) -> str:
        return "| " + " | ".join(text.replace("|", "\\|").replace("\n", " ") for text in row) + " |"

    return "\n".join([line(rows[0]), line(["---"] * len(rows[0])), *map(line, rows[1:])]) + "\n"


def to_html(rows: list[list[str]]) -> str:
    colours = {"passed": "#d1fae5", "failing": "#fee2e2", "not started": "#f3f4f6"}

    def td(text: str) -> str:
        colour = next((c for state, c in colours.items() if text.startswith(state)), "")
        style = f' style="background:{colour}"' if colour else ""
        return f"<td{style}>{html.escape(text)}</td>"

    head = "".join(f"<th>{html.escape(text)}</th>" for text in rows[0])
    body = "".join(f"<tr>{''.join(map(td, row))}</tr>" for row in rows[1:])
    return (
        '<!doctype html><meta charset="utf-8"><title>Class report</title>'
        "<style>td,th{border:1px solid #ccc;padding:.2em .4em;font:13px sans-serif}</style>"
        f"<table><tr>{head}</tr>{body}</table>\n"
    )


def main(
    paths: list[str], out: Path, timeout: float, jobs: int | None = None, full: bool = False
) -> int:
    """Check every copy (its quick tests; `full`: every exercise test), write
    `out`/report.md and report.html, print the Markdown."""
    names = [Path(p.rstrip("/")).name.removesuffix(".git") or p for p in paths]
    copies = [Copy(name, path) for name, path in zip(names, paths, strict=True)]
    started = time.monotonic()
    redis = redis_server.start()  # once, for every copy's tests (as `lab check` would)
    try:
        marks = FULL if full else QUICK
        with ThreadPoolExecutor(max_workers=jobs or JOBS[marks]) as pool:
            done = list(pool.map(lambda copy: check(copy, timeout, marks), copies))
    finally:
        if redis.started_now:
            redis_server.stop()
    rows = table(done)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(markdown(rows))
    (out / "report.html").write_text(to_html(rows))
    print(markdown(rows), end="")
    took = time.monotonic() - started
    which = "every test" if full else "quick tests (--full: the end-to-end ones too)"
    print(f"\n{len(done)} copies, {which}, in {took:.0f} s; written to {out}/report.md and .html")
    return 0


def fake_class(dest: Path, count: int) -> list[Path]:
    """`count` learner copies to try the report on (`python -m lab dev fake-class`), in
    turn: complete (the solutions), part way (the files of the first steps solved, the
    others untouched stubs) and broken (complete, but a wrong message and a syntax error)."""
    from lab.support.config import PROJECT_ROOT
    from lab.support.course.stubs import expected_stubs

    stubs = {path.name: text for path, text in expected_stubs(PROJECT_ROOT).items()}
    copies = []
    for i in range(count):
        kind = ("complete", "part way", "broken")[i % 3]
        last = STEPS[i % len(STEPS)].number  # the last step a part-way learner finished
        copy = dest / f"learner-{i + 1:02d}"
        (copy / "lab").mkdir(parents=True, exist_ok=True)
        for name in LEARNER_FILES:
            base = Path(name).name
            text = (PROJECT_ROOT / "solutions" / base).read_text()
            if kind == "part way":
                steps = [s.number for s in STEPS if name in s.modules]
                text = text if max(steps) <= last else stubs[base]
            elif kind == "broken" and base == "tasks.py":
                text = text.replace("Task complete", "Sent")
            elif kind == "broken" and base == "stats.py":
                text += "\ndef broken(:\n"
            (copy / name).write_text(text)
        copies.append(copy)
    return copies

"""The honesty rule: every exercise test passes against solutions/ and fails against the
untouched stubs that `python -m lab stubs` generates (rustlings' --require-solutions)."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from lab.support.background import child_env
from lab.support.exercises import STEPS
from lab.support.reference import copy_checkout


def run_step_tests(root: Path, impl: str, report: Path) -> dict[str, str]:
    """Run every step's test file in `root`; return {test id: passed|failed|skipped}."""
    command = [
        sys.executable, "-m", "pytest", f"--impl={impl}", "-q", "-p", "no:warnings",
        "-o", "junit_family=xunit1", f"--junitxml={report}", *[s.tests for s in STEPS],
    ]  # fmt: skip
    env = child_env({"PYTHONPATH": str(root)})
    subprocess.run(command, cwd=root, env=env, capture_output=True, check=False)
    outcomes = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        name = f"{case.get('file')}::{case.get('name')}"
        if case.find("skipped") is not None:
            outcomes[name] = "skipped"
        elif case.find("failure") is not None or case.find("error") is not None:
            outcomes[name] = "failed"
        else:
            outcomes[name] = "passed"
    return outcomes


@pytest.mark.parametrize(("lab", "expected"), [("solutions", "passed"), ("stubs", "failed")])
def test_every_exercise_test_passes_on_solutions_and_fails_on_stubs(
    tmp_path, redis_url, lab, expected
):
    root = copy_checkout(tmp_path / "checkout", lab=lab)
    outcomes = run_step_tests(root, "lab", tmp_path / "report.xml")
    for step in STEPS:
        assert any(name.startswith(step.tests) for name in outcomes), f"no tests in {step.tests}"
    wrong = sorted(name for name, outcome in outcomes.items() if outcome != expected)
    assert not wrong, f"with lab/ = {lab}, these did not end {expected}: {wrong}"

"""The honesty rule: every exercise test passes against solutions/ and fails against the
untouched stubs that `python -m lab dev stubs` generates (rustlings' --require-solutions).

Every test in the step files runs, not only those marked `exercise`, so that a test of a
step that passes on the stubs is caught however it is marked."""

from __future__ import annotations

import pytest
from plugins.groups import LAB_CHECK

from lab.support.course.check import run_tests
from lab.support.course.exercises import STEPS
from lab.support.course.reference import copy_checkout


@LAB_CHECK
@pytest.mark.parametrize(("lab", "expected"), [("solutions", "passed"), ("stubs", "failed")])
def test_every_exercise_test_passes_on_solutions_and_fails_on_stubs(
    tmp_path, redis_url, lab, expected
):
    root = copy_checkout(tmp_path / "checkout", lab=lab)
    outcomes = run_tests([step.tests for step in STEPS], root, marks=None)
    for step in STEPS:
        assert any(o.file.endswith(step.tests) for o in outcomes), f"no tests in {step.tests}"
    wrong = sorted(f"{o.file}::{o.name}" for o in outcomes if o.state != expected)
    assert not wrong, f"with lab/ = {lab}, these did not end {expected}: {wrong}"

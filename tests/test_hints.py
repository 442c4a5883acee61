"""`python -m lab hint STEP`: three graded hints per step, one more at each call,
remembered per step in the checkout (not in git)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from lab.support.course.exercises import HINTS, STEPS
from lab.support.course.hints import LEVELS, STATE, hints, next_hint, step_named
from lab.support.course.reference import copy_checkout


def test_every_step_has_three_hints_that_differ():
    assert set(HINTS) == {step.number for step in STEPS}, "HINTS and STEPS name other steps"
    for step in STEPS:
        levels = hints(step)
        assert len(levels) == len(LEVELS) == 3
        assert all(len(text) > 40 for text in levels), step.number
        assert len(set(levels)) == 3, f"step {step.number} repeats a hint"


def test_the_nudge_names_no_call_that_the_next_levels_give():
    """Level 1 leaves the calls to level 2: no `name(` of the outline appears in it."""
    for step in STEPS:
        nudge, _, outline = hints(step)
        assert not re.search(r"\w\(", nudge), (step.number, nudge)
        assert re.search(r"\w\(", outline), step.number


#: Steps whose exercise text names its calls: a first connection, a first task and a first
#: enqueue, where the calls are the lesson.
FIRST_STEPS = {"00", "01", "02"}
#: The workbook's own fake mail provider: an exercise that uses it has to name it.
OWN_API = {"outbox.deliver"}


def test_an_exercise_states_goals_and_leaves_the_calls_to_the_hints():
    """From step 03 on, no call that hint level 2 gives (its last two dotted names, as
    `Job.fetch(`) appears in the notebook's exercise text (its markdown cells that say
    "Exercise"): the text says what to achieve and how it is checked."""
    call = re.compile(r"\b([A-Za-z_]\w*\.[A-Za-z_][\w.]*)\(")
    for step in STEPS:
        if step.number in FIRST_STEPS:
            continue
        named = {".".join(c.split(".")[-2:]) for c in call.findall(hints(step)[1])} - OWN_API
        cells = json.loads(Path(step.notebook).read_text())["cells"]
        sources = ("".join(cell["source"]) for cell in cells if cell["cell_type"] == "markdown")
        text = "\n".join(source for source in sources if "Exercise" in source)
        assert text, f"{step.notebook} has no exercise text"
        given = sorted(c for c in named if f"{c}(" in text)
        assert not given, f"{step.notebook}'s exercise text dictates {given} (step {step.number})"


def test_each_call_shows_the_next_level_and_remembers_it_per_step(tmp_path):
    first = next_hint("3", tmp_path)
    assert first.startswith("Step 03, hint 1 of 3 (a nudge):")
    assert "hint 03` again for the calls" in first
    assert next_hint("03", tmp_path).startswith("Step 03, hint 2 of 3")
    assert next_hint("8e", tmp_path).startswith("Step 08e, hint 1 of 3")  # its own count
    third = next_hint("03", tmp_path)
    assert third.startswith("Step 03, hint 3 of 3 (the outline of the code):")
    assert "last hint" in third and "SimpleWorker" in third
    assert next_hint("03", tmp_path).startswith("Step 03, hint 3 of 3")  # stays at the last
    assert json.loads((tmp_path / STATE).read_text()) == {"03": 3, "08e": 1}
    assert next_hint("8e", tmp_path, again=True).startswith("Step 08e, hint 1 of 3")
    assert next_hint("00", tmp_path, again=True).startswith("Step 00, hint 1 of 3")


def test_a_damaged_state_file_starts_over(tmp_path):
    (tmp_path / STATE).write_text("{not json")
    assert next_hint("05", tmp_path).startswith("Step 05, hint 1 of 3")


def test_an_unknown_step_is_named_with_the_list():
    with pytest.raises(ValueError, match=r"There is no step '99'\. The steps: 00, 01, .*, 10\."):
        step_named("99")


def test_the_command_in_a_checkout(tmp_path, python_m):
    root = copy_checkout(tmp_path / "checkout", lab="stubs")
    first = python_m("lab", "hint", "06", root=root)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("Step 06, hint 1 of 3 (a nudge):")
    assert python_m("lab", "hint", "06", root=root).stdout.startswith("Step 06, hint 2 of 3")
    assert json.loads((root / STATE).read_text()) == {"06": 2}
    wrong = python_m("lab", "hint", "6x", root=root)
    assert wrong.returncode == 1 and "There is no step '6x'" in wrong.stderr
    assert "Traceback" not in wrong.stderr

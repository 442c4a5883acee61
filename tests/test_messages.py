"""A failing exercise test says in words what was expected, what happened and where to look,
on the one line of it that `python -m lab check` prints (tests/plugins/messages.py)."""

from __future__ import annotations

import ast
import re
import shutil

import pytest
from plugins.groups import LAB_CHECK
from test_check import solved_up_to

from lab.support.config import PROJECT_ROOT
from lab.support.course.exercises import STEPS
from lab.support.course.reference import copy_checkout

#: A learner's mistake, one requirement left out: the file, how many of its solution's
#: regions are written (the rest stay stubs), the changes to the solution, and the words that
#: `python -m lab check` must print on the failing test's line: the test, what was expected,
#: what happened and where to look.
MISTAKES = {
    "get_queue-reads-QUEUE_NAME-at-import": (
        "connection.py",
        2,
        [
            ("name or get_settings().queue_name,", "name or QUEUE_NAME,"),
            (
                "\n\n\ndef get_redis(",
                "\n\nQUEUE_NAME = get_settings().queue_name\n\n\ndef get_redis(",
            ),
        ],
        [
            "failing: test_get_queue_honours_queue_name_and_arguments: AssertionError: "
            "get_queue() reads QUEUE_NAME when it runs, and uses the connection and name it is"
            " given | got: with QUEUE_NAME=emails the queue is 'default': read it when called"
            " | look at: get_queue() in lab/connection.py",
        ],
    ),
    "send_fake_email-without-a-default-delay": (
        "tasks.py",
        1,
        [("    if delay is None:\n        delay = get_settings().email_delay\n", "")],
        [
            "failing: test_default_delay_comes_from_email_delay: TypeError: ",
            "send_fake_email() without a delay waits the EMAIL_DELAY setting, read when it runs",
            " | got: '<' not supported between instances of 'NoneType' and 'int'",
            " | look at: send_fake_email() in lab/tasks.py",
        ],
    ),
}


@LAB_CHECK
@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_lab_check_says_what_was_expected_what_happened_and_where_to_look(
    tmp_path, redis_url, python_m, mistake
):
    file, regions, edits, expected = MISTAKES[mistake]
    root = copy_checkout(tmp_path / "checkout", lab="stubs")
    # Step 00 done, the mistake's step written with the mistake; later steps not started.
    shutil.copy2(root / "solutions" / "connection.py", root / "lab" / "connection.py")
    source = (root / "solutions" / file).read_text()
    for old, new in edits:
        assert old in source, f"solutions/{file} no longer holds {old!r}: update the test"
        source = source.replace(old, new)
    (root / "lab" / file).write_text(solved_up_to(source, regions))

    result = python_m("lab", "check", root=root)
    assert result.returncode == 1, result.stdout + result.stderr
    line = next((line for line in result.stdout.splitlines() if expected[0] in line), None)
    assert line is not None, f"no line says {expected[0]!r}:\n{result.stdout}"
    for words in expected[1:]:
        assert words in line, f"{words!r} is not in the line {line!r}"


def test_every_exercise_test_says_what_it_expects_in_one_sentence():
    """The hook's "what was expected" is the first sentence of the test's docstring."""
    missing, long = [], []
    for step in STEPS:
        for node in ast.parse((PROJECT_ROOT / step.tests).read_text()).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                words = " ".join((ast.get_docstring(node) or "").split("\n\n")[0].split())
                sentence = re.match(r"(.+?)[.!?](\s|$)", words)
                if sentence is None:
                    missing.append(f"{step.tests}::{node.name}")
                elif len(sentence[1]) > 120:
                    long.append(f"{step.tests}::{node.name} ({len(sentence[1])} characters)")
    assert not missing, f"these tests have no docstring saying what they expect: {missing}"
    assert not long, f"the first sentence of these docstrings is over 120 characters: {long}"

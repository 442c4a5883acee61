"""What a failing exercise test says, in one line: "<expected> | got: <message> | look at:
<learner code>". `python -m lab check` prints that line for each failing test.

The exception is left as it is (its message and traceback stay pytest's): the line goes
onto the test's report, as a user property named EXPLAINED (which xdist carries from its
workers and the JUnit report records) and as a report section (shown under the traceback)."""

from __future__ import annotations

import re
import traceback
from collections.abc import Generator

import pytest

from lab.support.course.check import EXPLAINED
from lab.support.course.exercises import STEPS, step_of_test_file


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    raised = call.excinfo.value if call.excinfo is not None else None
    if (
        call.when == "call"
        and report.failed
        and isinstance(raised, (Exception, pytest.fail.Exception))
        and item.get_closest_marker("exercise") is not None
    ):
        line = explained(raised, item)
        if line:
            # The item's properties go onto its teardown report, which JUnit records.
            item.user_properties.append((EXPLAINED, line))
            report.user_properties.append((EXPLAINED, line))
            report.sections.append(("expected | got | look at", line))
    return report


def explained(exc: BaseException, item: pytest.Item) -> str | None:
    """The line "<ExceptionType>: <expected> | got: <message> | look at: <code>", from the
    first line of `exc`'s message; None for a message made of several arguments."""
    if isinstance(exc, pytest.fail.Exception):  # from pytest.raises: DID NOT RAISE ...
        said = exc.msg or ""
    elif len(exc.args) == 1 and isinstance(exc.args[0], str):
        said = exc.args[0]  # an assertion's message, then pytest's explanation
    elif not exc.args:
        said = ""
    else:
        return None
    first, _, rest = said.partition("\n")
    if first.startswith("Regex pattern did not match"):  # pytest.raises(match=): what it said
        first = " ".join([first, *(line.strip() for line in rest.splitlines())])
    where = look_at(exc, item)
    if where.removeprefix("look at: ") in first:  # a stub's "f() in lab/x.py is not written yet"
        where = ""
    parts = [first_sentence(docstring(item)), f"got: {first}" if first else "", where]
    return f"{type_name(exc)}: " + " | ".join(filter(None, parts))


def type_name(exc: BaseException) -> str:
    """The exception's type as a traceback names it: AssertionError, Failed, rq.x.Error."""
    kind = type(exc)
    module = kind.__module__
    return (
        kind.__qualname__ if module in ("builtins", "__main__") else f"{module}.{kind.__qualname__}"
    )


def docstring(item: pytest.Item) -> str:
    function = getattr(item, "function", None)
    return (function.__doc__ or "") if function is not None else ""


def first_sentence(text: str) -> str:
    """The first sentence of a docstring, on one line, without its full stop."""
    words = " ".join(text.split("\n\n")[0].split())
    match = re.match(r"(.+?)[.!?](\s|$)", words)
    return match[1] if match else words


def look_at(exc: BaseException, item: pytest.Item) -> str:
    """Where to look: the innermost learner function the exception came through, else the
    learner functions the test's docstring names, else all of the test's step's functions.
    Files are named as --impl gives them: lab/... or solutions/..."""
    impl = item.config.getoption("--impl")

    def split(function: str) -> tuple[str, str]:  # "lab/tasks.py:f" -> (<impl>/tasks.py, f)
        file, name = function.split(":")
        return file.replace("lab/", f"{impl}/", 1), name

    learner = [split(function) for step in STEPS for function in step.functions]
    for frame, _ in reversed(list(traceback.walk_tb(exc.__traceback__))):
        code = frame.f_code
        for file, name in learner:
            if code.co_name == name and code.co_filename.replace("\\", "/").endswith(f"/{file}"):
                return f"look at: {name}() in {file}"
    step = step_of_test_file(str(item.path))
    said = docstring(item)  # a name as a whole word: signature() is not in verify_signature()
    named = [(file, name) for file, name in learner if re.search(rf"\b{name}\(\)", said)]
    functions = named or ([split(function) for function in step.functions] if step else [])
    by_file: dict[str, list[str]] = {}
    for file, name in functions:
        by_file.setdefault(file, []).append(f"{name}()")
    places = "; ".join(f"{', '.join(names)} in {file}" for file, names in by_file.items())
    return f"look at: {places}" if places else ""

"""The learner's code under test: --impl=lab|solutions, one fixture per learner module, and
the `exercise` mark on every test that uses them."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType

import pytest

from lab.support.course.exercises import learner_modules


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--impl",
        choices=["lab", "solutions"],
        default="lab",
        help="which package the exercise tests check: your lab/ (default) or solutions/",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A test that checks learner code (it uses `impl`) is an exercise test: it must pass
    # against solutions/ and fail against the untouched stubs (tests/test_honesty.py).
    for item in items:
        if "impl" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.exercise)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):  # noqa: ANN201 - the hook's result
    """An exercise test that starts a process in its body must be marked e2e: `python -m lab
    check` leaves those out unless --full, and stays fast only while they are marked."""
    from lab.support.servers.processes import Background

    before = Background.started
    result = yield
    marked = {mark.name for mark in item.iter_markers()}
    if "exercise" in marked and "e2e" not in marked and Background.started > before:
        pytest.fail("this exercise test starts a process: mark it @pytest.mark.e2e")
    return result


@pytest.fixture(scope="session")
def impl(request: pytest.FixtureRequest) -> str:
    """The package under test: "lab" or "solutions"."""
    return request.config.getoption("--impl")


def _module_fixture(name: str) -> Callable:
    """A fixture named `name` that gives the learner's module <impl>.<name>."""

    def fixture(impl: str) -> ModuleType:
        return importlib.import_module(f"{impl}.{name}")

    fixture.__doc__ = f"The module under test: lab.{name} or solutions.{name} (--impl)."
    return pytest.fixture(name=name)(fixture)


# connection, tasks, producer, worker, strategies, status, failures, pool: one fixture each.
for _name in learner_modules():
    globals()[_name] = _module_fixture(_name)


@pytest.fixture
def receipt() -> Callable[[str], str]:
    """receipt(address): what send_fake_email returns - the original tutorial's words."""
    return lambda address="user@example.com": f"Task complete: Email sent to {address}"

"""The settings the tests see: the defaults, whatever the shell or notebook exported.

get_settings() reads the environment when first called and keeps what it read, so the
exported settings are taken out of the environment for the session (and put back at its
end), and its cache is cleared around each test: a test that sets a variable (monkeypatch,
config.environment()) does not leave it to the next one."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from lab.support.config import VARIABLES, get_settings

#: Where the tests' Redis is: kept, so that a learner's own Redis serves the tests too.
KEPT = ("REDIS_URL", "REDIS_DATA_DIR")
_exported: dict[str, str] = {}


def pytest_configure(config: pytest.Config) -> None:
    # xdist's workers start later, from this environment, and take it out again (nothing).
    names = [name for name in VARIABLES if name not in KEPT and name in os.environ]
    _exported.update({name: os.environ.pop(name) for name in names})
    get_settings.cache_clear()


def pytest_unconfigure(config: pytest.Config) -> None:
    os.environ.update(_exported)
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    """get_settings() reads the environment as each test starts: an earlier test's
    settings do not linger."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()

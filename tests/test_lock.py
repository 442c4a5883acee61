"""The lock: uv.lock pins every version from pyproject.toml's ranges; requirements.txt
(the learner's set) and requirements-dev.txt (with the suite's tools) are its exports, for
pip and conda; the Makefile installs exactly those, the learner's set without the tools."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lab.support.config import PROJECT_ROOT
from lab.support.course.lockfile import differences, installed, pins

ROOT = PROJECT_ROOT
#: Tools only the suite uses: in the dev group, never in a learner's install.
SUITE_TOOLS = ("ruff", "schemathesis", "playwright", "uv", "import-linter")


def uv() -> str:
    """The uv that `make` installed (or the one on PATH)."""
    found = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    assert found, "uv is not installed: `make test` installs it with the dev group"
    return found


def makefile_recipe(target: str) -> str:
    text = (ROOT / "Makefile").read_text()
    found = re.search(rf"^{re.escape(target)}:.*\n((?:\t.*\n)+)", text, re.M)
    assert found, f"the Makefile has no rule for {target}"
    return found.group(1)


@pytest.mark.parametrize(
    ("exported", "flags"),
    [("requirements.txt", ["--no-dev"]), ("requirements-dev.txt", [])],
)
def test_the_exports_match_the_lock(tmp_path, exported, flags):
    """`make lock` writes them with these commands: a lock changed without them fails."""
    fresh = tmp_path / exported
    command = [uv(), "export", "--quiet", "--frozen", "--no-hashes", *flags, "-o", str(fresh)]
    subprocess.run(command, cwd=ROOT, check=True, timeout=60)
    body = [line for line in fresh.read_text().splitlines() if not line.startswith("#")]
    committed = [
        line for line in (ROOT / exported).read_text().splitlines() if not line.startswith("#")
    ]
    assert committed == body, f"{exported} is stale: run `make lock` and commit it"


def test_the_lock_matches_pyproject():
    """`uv lock --check`: a range changed in pyproject.toml without `make lock` fails."""
    ran = subprocess.run(
        [uv(), "lock", "--check"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert ran.returncode == 0, f"uv.lock is stale: run `make lock`\n{ran.stderr}"


def test_a_learner_gets_no_suite_tools():
    learner = pins((ROOT / "requirements.txt").read_text())
    everything = pins((ROOT / "requirements-dev.txt").read_text())
    for tool in SUITE_TOOLS:
        assert tool not in learner, f"{tool} is for the suite only; put it in the dev group"
        assert tool in everything, f"{tool} should be pinned in requirements-dev.txt"
    assert {"fastapi", "rq", "redis", "jupyterlab", "nbval", "pytest"} <= set(learner)


def test_make_installs_the_lock_and_nothing_else():
    """`make lab` syncs the lock without the dev group, exactly (`--frozen`: no
    resolution); `make test` with it; the pip path installs the exported pins."""
    assert "sync --quiet --frozen --inexact --no-dev" in makefile_recipe("$(VENV)/.lab-uv")
    dev = makefile_recipe("$(VENV)/.dev-uv")
    assert "sync --quiet --frozen --inexact" in dev and "--no-dev" not in dev
    assert "-r requirements.txt" in makefile_recipe("$(VENV)/.lab-pip")
    assert "-r requirements-dev.txt" in makefile_recipe("$(VENV)/.dev-pip")
    assert re.search(r"^test: setup-dev$", (ROOT / "Makefile").read_text(), re.M)
    assert re.search(r"^lab: setup$", (ROOT / "Makefile").read_text(), re.M)


def test_this_environment_is_the_locked_one():
    """The suite runs on the pins (make test), or `make test-latest` says what differs."""
    changed = differences(pins((ROOT / "requirements-dev.txt").read_text()), installed())
    if Path(sys.prefix).name == ".venv-latest":
        pytest.skip(f"make test-latest: {len(changed)} packages newer than the lock")
    assert not changed, "this environment is not the lock's:\n" + "\n".join(changed)


def test_pins_follow_markers():
    text = (
        "-e .\n"
        "redis==8.1.0 ; python_full_version < '3.11'\n"
        "    # via rq\n"
        "redis==8.2.0 ; python_full_version >= '3.11'\n"
        "appnope==1.0.0 ; sys_platform == 'nonesuch'\n"
        "Rq_Dashboard.Fast==0.9.1\n"
    )
    expected_redis = "8.1.0" if sys.version_info < (3, 11) else "8.2.0"
    assert pins(text) == {"redis": expected_redis, "rq-dashboard-fast": "0.9.1"}
    assert differences({"redis": "8.2.0"}, {"redis": "8.3.0"}) == [
        "  redis: locked 8.2.0, here 8.3.0"
    ]
    assert differences({"x": "1"}, {}) == ["  x: locked 1, here not installed"]

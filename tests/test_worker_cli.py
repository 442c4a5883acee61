"""`python -m lab.worker`'s provided command line (lab/support/worker_cli.py) on a learner's
lab/ part way through: an unwritten TODO is named in one line, with no traceback."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from lab.support.background import child_env
from lab.support.reference import copy_checkout


@pytest.mark.parametrize(
    ("written", "named"),
    [
        ((), "get_redis() in lab/connection.py"),
        (("connection",), "build_worker() in lab/worker.py"),
    ],
    ids=["nothing-written", "step-00-written"],
)
def test_an_unwritten_todo_is_named_in_one_line(tmp_path, redis_url, written, named):
    root = copy_checkout(tmp_path / "checkout", lab="stubs")
    for name in written:
        shutil.copy2(root / "solutions" / f"{name}.py", root / "lab" / f"{name}.py")
    result = subprocess.run(
        [sys.executable, "-m", "lab.worker", "--burst"],
        cwd=root,
        env=child_env({"PYTHONPATH": str(root)}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr == f"lab.worker: {named} is not written yet (its TODO).\n"
    assert "Traceback" not in result.stdout


@pytest.mark.parametrize("package", ["lab", "solutions"])
def test_help_names_the_command_that_was_run(package):
    shown = subprocess.run(
        [sys.executable, "-m", f"{package}.worker", "--help"],
        env=child_env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert shown.startswith(f"usage: python -m {package}.worker ")
    assert "--with-scheduler" in shown

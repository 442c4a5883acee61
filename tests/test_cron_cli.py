"""`python -m lab.periodic`'s provided command line (lab/support/workers/cron.py, step 08c): its
refusals, Redis down, and a learner's lab/ where schedule_digest() is not written yet.

Provided code, whatever lab/ holds: these tests run solutions.periodic, or a checkout of
their own, and pass on the stubs (tests/test_08c_periodic.py checks the learner's part)."""

from __future__ import annotations

import shutil

import pytest

from lab.support.course.reference import copy_checkout


def test_an_unwritten_schedule_digest_is_named_in_one_line(tmp_path, redis_url, python_m):
    """Step 00 written, step 08c not: exit 1 with the stub's words, no traceback."""
    root = copy_checkout(tmp_path / "checkout", lab="stubs")
    shutil.copy2(root / "solutions" / "connection.py", root / "lab" / "connection.py")
    result = python_m("lab.periodic", "--every", "1", root=root, timeout=60)
    assert result.returncode == 1, result.stdout + result.stderr
    assert (
        result.stderr == "lab.periodic: schedule_digest() in lab/periodic.py is not written yet\n"
    )
    assert result.stdout == ""


def test_redis_down_is_one_line_and_exit_1(python_m, closed_port):
    url = f"redis://127.0.0.1:{closed_port}/0"
    result = python_m("solutions.periodic", "--every", "1", env={"REDIS_URL": url}, timeout=30)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"Cannot reach Redis at {url} (ConnectionError: "), lines[0]
    assert "python -m lab redis start" in lines[0]
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("0", "expected 1 to 86400 seconds, not 0"),
        ("-5", "expected 1 to 86400 seconds, not -5"),
        ("86401", "expected 1 to 86400 seconds, not 86401"),
        ("x", "expected whole seconds, not 'x'"),
        ("1.5", "expected whole seconds, not '1.5'"),
    ],
)
def test_every_out_of_range_is_one_clear_line(python_m, value, said):
    """--every takes whole seconds, 1 to 86400: anything else is refused before Redis is asked."""
    result = python_m("solutions.periodic", f"--every={value}", timeout=30)
    assert result.returncode == 2, result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert errors == [f"python -m solutions.periodic: error: argument --every: {said}"], (
        result.stderr
    )
    assert "Traceback" not in result.stderr


def test_help_names_the_command_that_was_run(python_m):
    shown = python_m("solutions.periodic", "--help").stdout
    assert shown.startswith("usage: python -m solutions.periodic ")
    assert "--every SECONDS" in shown and "--queue" in shown

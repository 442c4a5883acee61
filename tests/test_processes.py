"""Background (lab/support/servers/processes.py): a process that ends before it is ready
says why, even when it printed nothing (issue 25: "api exited (3):" and nothing after)."""

from __future__ import annotations

import sys

import pytest

from lab.support.servers.processes import Background


def test_an_exit_with_output_shows_the_output():
    with Background(
        "talker", [sys.executable, "-c", "print('port taken'); raise SystemExit(1)"]
    ) as p:
        with pytest.raises(RuntimeError) as error:
            p.wait_for_output("Uvicorn running on", timeout=10)
    assert str(error.value) == "talker exited (1):\nport taken\n"


def test_a_silent_exit_names_the_command_and_what_its_code_means():
    command = [sys.executable, "-c", "raise SystemExit(3)"]
    with Background("api", command) as p:
        with pytest.raises(RuntimeError) as error:
            p.wait_for_output("Uvicorn running on", timeout=10)
    said = str(error.value)
    assert said.startswith("api exited (3) without printing anything (uvicorn's code"), said
    assert said.endswith(" ".join(command)), said


def test_a_process_killed_by_a_signal_says_which():
    command = [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"]
    with Background("api", command) as p:
        with pytest.raises(RuntimeError) as error:
            p.wait_for_output("Uvicorn running on", timeout=10)
    assert "killed by signal 9 (SIGKILL)" in str(error.value)

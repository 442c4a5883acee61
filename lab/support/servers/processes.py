"""PROVIDED: run the API or a worker in the background from a notebook or a test - the
commands you type in a terminal, with this checkout on PYTHONPATH and their output in a
log file that `output()` reads:

    with start_worker() as worker, start_api() as api:
        httpx.get(f"{api.url}/health")
        print(worker.output())
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from lab.support.config import PROJECT_ROOT


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_env(extra: Mapping[str, str] | None = None, root: Path = PROJECT_ROOT) -> dict[str, str]:
    """This process's environment, with the checkout `root` (default: this one) first on
    PYTHONPATH, so that its lab/ is the one imported; then `extra`."""
    path = os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
    # Plain text: the output goes to log files and notebooks (Python 3.13 colours tracebacks).
    plain = {"PYTHONUNBUFFERED": "1", "PYTHON_COLORS": "0", "NO_COLOR": "1"}
    return {**os.environ, "PYTHONPATH": path, **plain, **(extra or {})}


class Background:
    """A command running in the background, with its output in a log file."""

    #: How many this Python process started (the tests' e2e mark is checked with it).
    started = 0

    def __init__(self, name: str, command: Sequence[str], env: Mapping[str, str] | None = None):
        Background.started += 1
        self.name = name
        self.command = list(command)
        log = tempfile.NamedTemporaryFile(prefix=f"{name}-", suffix=".log", delete=False)
        self.log_path = Path(log.name)
        self.process = subprocess.Popen(
            self.command,
            cwd=PROJECT_ROOT,
            env=child_env(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C in a notebook or terminal does not reach it
        )
        log.close()
        # A kernel restart or interpreter exit stops what it started, leaving no orphans.
        atexit.register(self.stop)

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def output(self) -> str:
        """Everything the process has printed so far."""
        return self.log_path.read_text(errors="replace")

    def wait_for_output(self, text: str, timeout: float = 15.0) -> None:
        """Wait until the process prints `text`; raise if it exits or takes too long."""

        deadline = time.monotonic() + timeout
        while text not in self.output():
            if not self.running:
                raise RuntimeError(self.exit_message())
            if time.monotonic() > deadline:
                said = f"{self.name} did not print {text!r} in {timeout} s:\n{self.output()}"
                raise TimeoutError(said)
            time.sleep(0.02)

    def exit_message(self) -> str:
        """Why it ended: its exit code and what it printed, or, when it printed nothing,
        the command and what its exit code means."""
        code, said = self.process.returncode, self.output()
        if said.strip():
            return f"{self.name} exited ({code}):\n{said}"
        meaning = {
            3: "uvicorn's code for a start-up cut short: a signal before it was up, or the"
            " app's start-up failed with its log switched off",
        }.get(code, "see the command's own documentation for this code")
        if code is not None and code < 0:
            meaning = f"killed by signal {-code} ({signal.Signals(-code).name})"
        command = " ".join(self.command)
        return f"{self.name} exited ({code}) without printing anything ({meaning}): {command}"

    def settled_output(self, marker: str = "Traceback", timeout: float = 3.0) -> str:
        """Everything printed so far, once `marker` appeared and the output stopped growing
        (a server logs its traceback just after its 500), or after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        before = self.output()
        while time.monotonic() < deadline:
            time.sleep(0.1)
            now = self.output()
            if marker in now and now == before:
                return now
            before = now
        return before

    def wait(self, timeout: float = 30.0) -> int:
        """Its exit code once it ends by itself; past `timeout` s, a TimeoutError with what
        it printed (it goes on running)."""
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise TimeoutError(
                f"{self.name} did not exit within {timeout:g} s; it printed:\n{self.output()}"
            ) from None

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM (a worker finishes its current job first), SIGKILL after `timeout` s;
        then kill what it left in its process group (a worker stopped while it starts can
        leave RQ's scheduler running, queueing scheduled jobs). Returns the exit code."""
        if self.running:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._kill_leftovers()
        return self.process.returncode

    def _kill_leftovers(self) -> None:
        # Its own group (start_new_session); none left, or no process groups on Windows.
        with contextlib.suppress(AttributeError, ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def kill(self) -> int:
        """SIGKILL, with what it started in its process group (a worker's scheduler, a
        pool's workers), where a graceful stop would wait for a job or the scheduler's tick.
        Not a forking Worker's work horse (a group of its own, its job goes on): crash()."""
        if self.running:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)  # its own group: start_new_session
            except (AttributeError, ProcessLookupError):  # no process groups on Windows
                self.process.kill()
        code = self.process.wait()
        self._kill_leftovers()  # those of a leader that had exited already
        return code

    def crash(self) -> int:
        """kill -9 as a crash of the machine would: the process, its group, and every
        process it started (a forking Worker's work horse too, found in /proc: Linux;
        elsewhere it is kill())."""
        started = descendants(self.process.pid) if self.running else []
        code = self.kill()  # first the worker: it must not see its horse die and say so
        for pid in started:
            for end in (os.killpg, os.kill):  # the horse's own group, and the horse
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    end(pid, signal.SIGKILL)
        return code

    def __enter__(self) -> Background:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
        self.log_path.unlink(missing_ok=True)


def descendants(pid: int) -> list[int]:
    """The processes `pid` started, and theirs: read from /proc (Linux; [] elsewhere)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:  # "<pid> (<name>) <state> <ppid> ...": the name may hold spaces and parens
            ppid = int(stat.read_text().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):  # ended meanwhile
            continue
        parents.setdefault(ppid, []).append(int(stat.parent.name))
    found, stack = [], [pid]
    while stack:
        children = parents.get(stack.pop(), [])
        found += children
        stack += children
    return found


def start_worker(
    *args: str, package: str = "lab", env: Mapping[str, str] | None = None
) -> Background:
    """`python -m <package>.worker *args`, returned once it listens on its queues."""
    worker = Background("worker", [sys.executable, "-m", f"{package}.worker", *args], env)
    if "--burst" not in args:
        worker.wait_for_output("listening on")
    return worker


class Api(Background):
    url: str


def start_api(
    package: str = "lab",
    port: int | None = None,
    env: Mapping[str, str] | None = None,
    module: str = "producer",
    args: Sequence[str] = (),
) -> Api:
    """`uvicorn <package>.<module>:app *args` on 127.0.0.1 (`module="strategies"`: step
    04's app), once it accepts requests; at `url` (a free port unless `port` is given)."""
    port = port or free_port()
    command = [
        sys.executable, "-m", "uvicorn", f"{package}.{module}:app",
        "--host", "127.0.0.1", "--port", str(port), "--no-access-log", *args,
    ]  # fmt: skip
    api = Api("api", command, env)
    api.url = f"http://127.0.0.1:{port}"
    api.wait_for_output("Uvicorn running on")
    return api


T = TypeVar("T")


def poll(read: Callable[[], T], done: Callable[[T], bool], what: str, timeout: float,
         every: float = 0.02) -> list[T]:  # fmt: skip
    """Call `read()` every `every` seconds until `done(value)`; return every value read.
    After `timeout` seconds, a TimeoutError naming `what` was awaited and the last value."""
    seen = [read()]
    deadline = time.monotonic() + timeout
    while not done(seen[-1]):
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:g} s for {what}; the last answer: {seen[-1]}")
        time.sleep(every)
        seen.append(read())
    return seen


def last_line(output: str, containing: str = "") -> str:
    """The last line of a process's `output` that holds `containing` (default: its last
    line that is not blank), stripped; "" when there is none."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return next((line for line in reversed(lines) if containing in line), "")

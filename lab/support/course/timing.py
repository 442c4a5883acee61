"""PROVIDED (maintainers): `python -m lab dev time-check` - how long the progress checks
take, on copies of this checkout: each notebook's check cell (`check_step("NN")`) and
`python -m lab check` (and --full), with every step done (lab/ = solutions) and with none started
(lab/ = the stubs). Each runs `runs` times in a fresh process (the median is printed),
with Redis running, as a learner's is from notebook 00 on.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from lab.support.course.exercises import STEPS
from lab.support.course.reference import copy_checkout
from lab.support.servers.processes import child_env

#: The issue's targets, in seconds.
STEP_TARGET = 8.0
ALL_TARGET = 15.0


def timed(root: Path, *args: str) -> tuple[float, subprocess.CompletedProcess]:
    """Run `python *args` in the checkout `root` (its lab/ imported); its wall time."""
    start = time.monotonic()
    ran = subprocess.run(
        [sys.executable, *args], cwd=root, env=child_env(root=root), capture_output=True, text=True
    )
    return time.monotonic() - start, ran


def check_cell(number: str) -> tuple[str, ...]:
    """The arguments that run a notebook's check cell."""
    return ("-c", f"from lab.support.course.check import check_step\ncheck_step({number!r})")


def measure(root: Path, args: Sequence[str], runs: int, expect: str) -> list[float]:
    """Wall times of `runs` runs; raise if the output lacks `expect` (a wrong setup)."""
    times = []
    for _ in range(runs):
        seconds, ran = timed(root, *args)
        if expect not in ran.stdout:
            raise RuntimeError(
                f"python {' '.join(args)} in {root} did not print {expect!r}:\n"
                f"{ran.stdout[-2000:]}{ran.stderr[-2000:]}"
            )
        times.append(seconds)
    return times


def line(label: str, times: list[float], target: float | None = None) -> str:
    median = statistics.median(times)
    verdict = "" if target is None else ("  ok" if median <= target else f"  OVER {target:g} s")
    runs = ", ".join(f"{t:.1f}" for t in times)
    return f"  {label:<34} {median:5.1f} s   (runs: {runs}){verdict}"


def main(runs: int = 3, numbers: Sequence[str] = ()) -> int:
    from lab.support.servers.redis_server import run_with_redis

    return run_with_redis(lambda: timed_checks(runs, numbers))


def timed_checks(runs: int, numbers: Sequence[str]) -> int:
    steps, over = [s for s in STEPS if not numbers or s.number in numbers], 0
    with tempfile.TemporaryDirectory() as tmp:
        done = copy_checkout(Path(tmp) / "done", lab="solutions")
        fresh = copy_checkout(Path(tmp) / "fresh", lab="stubs")
        print(f"Median of {runs} runs, in fresh processes (python {sys.version.split()[0]}).")
        print("Every step done (lab/ = solutions):", flush=True)
        for step in steps:
            times = measure(done, check_cell(step.number), runs, f"Step {step.number} passed")
            over += statistics.median(times) > STEP_TARGET
            print(line(f'check_step("{step.number}")', times, STEP_TARGET), flush=True)
        times = measure(done, ("-m", "lab", "check"), runs, "Every step passes")
        over += statistics.median(times) > ALL_TARGET
        print(line("python -m lab check", times, ALL_TARGET), flush=True)
        times = measure(done, ("-m", "lab", "check", "--full"), runs, "Every step passes.")
        print(line("python -m lab check --full", times), flush=True)
        print("No step started (lab/ = stubs):")
        for step in steps:
            times = measure(fresh, check_cell(step.number), runs, f"Step {step.number}")
            print(line(f'check_step("{step.number}")', times), flush=True)
        times = measure(fresh, ("-m", "lab", "check"), runs, "not started")
        print(line("python -m lab check", times), flush=True)
    return 1 if over else 0

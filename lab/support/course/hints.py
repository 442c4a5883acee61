"""PROVIDED: `python -m lab hint STEP`: a step's hints, one level more at each call.

Level 1 is a nudge, 2 the calls to use and the docs to read, 3 the outline of the code
(exercises.py holds them). How far each step has gone is remembered in `.hints.json` at
the checkout's root (not tracked by git), so that a learner decides how much help to take.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from lab.support.config import PROJECT_ROOT
from lab.support.course.exercises import HINTS, STEPS, Step

LEVELS = ("a nudge", "the calls, and the docs to read", "the outline of the code")
STATE = ".hints.json"


def step_named(number: str) -> Step:
    """The step `number` ("3", "03", "08e", ...), or ValueError listing the steps."""
    key = number.strip().lower()
    for step in STEPS:
        if key in (step.number, step.number.lstrip("0") or "0"):
            return step
    names = ", ".join(step.number for step in STEPS)
    raise ValueError(f"There is no step {number!r}. The steps: {names}.")


def hints(step: Step) -> tuple[str, str, str]:
    return (*HINTS[step.number], step.hint)


def shown(root: Path = PROJECT_ROOT) -> dict[str, int]:
    """How many hints each step has shown (an unreadable state file counts as none)."""
    try:
        state = json.loads((root / STATE).read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in state.items() if isinstance(v, int)} if isinstance(state, dict) else {}


def next_hint(number: str, root: Path = PROJECT_ROOT, again: bool = False) -> str:
    """The next hint of step `number`, remembered as shown; with `again`, the last one shown
    (the first if none was). After the last level, the last one again."""
    step = step_named(number)
    state = shown(root)
    done = state.get(step.number, 0)
    level = max(done, 1) if again else min(done + 1, len(LEVELS))
    state[step.number] = max(done, level)
    (root / STATE).write_text(json.dumps(state, indent=1, sort_keys=True) + "\n")
    text = textwrap.fill(hints(step)[level - 1], 88, break_on_hyphens=False)
    more = (
        f"`python -m lab hint {step.number}` again for {LEVELS[level]}."
        if level < len(LEVELS)
        else "That was the last hint; the reference answer is in solutions/."
    )
    title = f"Step {step.number}, hint {level} of {len(LEVELS)} ({LEVELS[level - 1]}):"
    return f"{title}\n{text}\n{more}"


def hint(number: str) -> None:
    """For a notebook cell: print the next hint of step `number`."""
    print(next_hint(number))


def main(number: str, again: bool = False) -> int:
    print(next_hint(number, again=again))
    return 0

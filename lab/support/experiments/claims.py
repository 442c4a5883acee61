"""PROVIDED: measured claims that hold on a busy laptop (notebook 07, `bench workers`).

A claim is a measurement and a margin: `margin(result) >= 0` when the claim holds, else how
far it misses, in the claim's own units. `judge()` measures up to TRIES times, each time on
fresh numbers, and stops at the first try that holds. When every try misses, the verdict is
MISSED only if the machine was otherwise idle around each try and the best try misses by
more than the tries' own spread; else it is INCONCLUSIVE: the misses say more about the
machine than about the code, so re-run on an idle machine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

TRIES = 3
BUSY_CORES = 0.5  # CPU used by the machine while the measuring code waited, in cores
PROBE_S = 0.3  # how long each look at the machine's load lasts
MET, MISSED, INCONCLUSIVE = "met", "MISSED", "inconclusive"


def busy_cores(seconds: float = PROBE_S) -> float:
    """Cores' worth of CPU that the machine's processes used over `seconds` while this one
    slept (psutil reads it on Linux and macOS alike)."""
    import psutil

    return psutil.cpu_percent(interval=seconds) / 100 * (psutil.cpu_count() or 1)


@dataclass(frozen=True)
class Verdict:
    """What the tries of one claim found: `state` is MET, MISSED or INCONCLUSIVE;
    `margins` one per try (>= 0: held); `busy` the other load around each try, in cores."""

    state: str
    margins: tuple[float, ...]
    busy: tuple[float, ...]

    @property
    def tries(self) -> int:
        return len(self.margins)

    def __str__(self) -> str:
        tries = f"{self.tries} tries" if self.tries > 1 else "1 try"
        if self.state == MET:
            return MET if self.tries == 1 else f"{MET} on try {self.tries} of {TRIES}"
        missed = ", ".join(f"{m:+.2f}" for m in self.margins)
        if self.state == MISSED:
            return f"{MISSED} on {tries} (margins {missed}) on an otherwise idle machine"
        if max(self.busy) >= BUSY_CORES:
            why = f"other work used up to {max(self.busy):.1f} cores around the tries"
        else:
            why = f"the misses (margins {missed}) lie within the tries' own spread"
        return f"{INCONCLUSIVE} after {tries}: {why}; re-run on an idle machine"


def judge(
    measure: Callable[[], T],
    margin: Callable[[T], float],
    tries: int = TRIES,
    busy: Callable[[], float] = busy_cores,
) -> tuple[T, Verdict]:
    """(the last try's result, the verdict) of up to `tries` fresh measurements."""
    margins: list[float] = []
    loads: list[float] = []
    for _ in range(tries):
        before = busy()
        result = measure()
        margins.append(margin(result))
        loads.append(max(before, busy()))
        if margins[-1] >= 0:
            return result, Verdict(MET, tuple(margins), tuple(loads))
    spread = max(margins) - min(margins)
    clear = -max(margins) > spread and max(loads) < BUSY_CORES
    return result, Verdict(MISSED if clear else INCONCLUSIVE, tuple(margins), tuple(loads))

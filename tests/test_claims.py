"""claims.judge(): a measured claim that misses is measured again, on fresh numbers, before
it is called MISSED; misses on a busy machine or within the tries' spread are inconclusive."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lab.support.experiments import claims


def tries_of(margins, busy=0.0):
    """judge() over measurements whose margins are `margins`, one per try."""
    seen = iter(margins)
    calls = []

    def measure():
        calls.append(1)
        return next(seen)

    result, verdict = claims.judge(measure, lambda m: m, busy=lambda: busy)
    return result, verdict, len(calls)


def test_a_claim_met_at_once_is_measured_once():
    result, verdict, calls = tries_of([0.3, -1, -1])
    assert (verdict.state, calls, result, str(verdict)) == ("met", 1, 0.3, "met")


def test_a_miss_is_measured_again_until_it_holds():
    result, verdict, calls = tries_of([-0.2, -0.1, 0.05])
    assert (verdict.state, calls, result) == ("met", 3, 0.05)
    assert str(verdict) == "met on try 3 of 3"


def test_three_clear_misses_on_an_idle_machine_are_missed():
    _, verdict, calls = tries_of([-0.50, -0.52, -0.48])
    assert (verdict.state, calls) == ("MISSED", 3)
    assert "otherwise idle" in str(verdict) and "-0.48" in str(verdict)


def test_misses_within_their_own_spread_are_inconclusive():
    _, verdict, _ = tries_of([-0.05, -0.60, -0.30])  # best miss 0.05, spread 0.55
    assert verdict.state == "inconclusive"
    assert "within the tries' own spread" in str(verdict)
    assert str(verdict).endswith("re-run on an idle machine")


def test_misses_on_a_busy_machine_are_inconclusive():
    _, verdict, _ = tries_of([-0.50, -0.52, -0.48], busy=1.8)
    assert verdict.state == "inconclusive"
    assert "other work used up to 1.8 cores" in str(verdict)


@pytest.mark.serial
def test_busy_cores_sees_two_processes_that_spin():
    """The probe itself, against real load: two spinning processes use about 2 cores (all
    of a 2-core machine), which is over BUSY_CORES."""
    spin = [sys.executable, "-c", "while True: pass"]
    spinners = [subprocess.Popen(spin) for _ in range(2)]
    try:
        assert claims.busy_cores(0.5) >= 1.5 * claims.BUSY_CORES
    finally:
        for p in spinners:
            p.kill()
            p.wait()

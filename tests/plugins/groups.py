"""The tests that must not run beside certain others when xdist shares the suite out
(`--dist loadgroup`): each group's tests run one after another on one worker.

Usage: `@LAB_CHECK` on a test (pytest.mark.xdist_group, documented by pytest-xdist)."""

from __future__ import annotations

import pytest

#: Tests that run `python -m lab check` or its run_tests(): each is a pytest run of its own
#: with WORKERS xdist workers (lab/support/course/check.py), and each of those claims one of
#: the 15 test databases. One such test at a time keeps `make test` within them (its 3 workers
#: and 3 more).
LAB_CHECK = pytest.mark.xdist_group("lab-check")

#: Test files whose claims are times (a stop within 2 s, an answer before a slow email, a
#: check's duration) or that run many processes of their own (the checker, the soak, the
#: benches): marked `serial`, they run after the others, one at a time, so that the
#: machine's two cores are theirs (`make suite` runs `-m "not serial"` in parallel first).
SERIAL_FILES = (
    "test_honesty.py", "test_check.py", "test_worker_stop.py", "test_soak.py",
    "test_04_strategies.py", "test_bench.py", "test_bench_workers.py", "test_bench_stats.py",
    "test_bench_abandoned.py", "test_bench_peers.py", "test_report.py",
)  # fmt: skip


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name in SERIAL_FILES:
            item.add_marker(pytest.mark.serial)

"""The tests that must not run beside certain others when xdist shares the suite out
(`--dist loadgroup`): each group's tests run one after another on one worker.

Usage: `@LAB_CHECK` on a test (pytest.mark.xdist_group, documented by pytest-xdist)."""

from __future__ import annotations

import pytest

#: Tests that run `python -m lab check` or its run_tests(): each is a pytest run of its own
#: with WORKERS xdist workers (lab/support/course/check.py), and each of those claims one of
#: the 8 test databases. One such test at a time keeps `make test` within them (its 3 workers
#: and 3 more).
LAB_CHECK = pytest.mark.xdist_group("lab-check")

"""PROVIDED: the email in RQ, for `python -m lab bench peers` (the reference the peers are
measured against; rq_peer.py drives it).

RQ stores a task's dotted name, so the task lives in a module a worker imports (never
`__main__`); the worker finds the queue and Redis from its command line.
"""

from __future__ import annotations

import time

from lab.support.experiments.peers import common


def send_email(address: str, delay: float) -> None:
    time.sleep(delay)
    common.finished()


def send_slow_email(address: str, delay: float) -> None:
    """The crash job: the same email, its start recorded too."""
    common.started()
    send_email(address, delay)

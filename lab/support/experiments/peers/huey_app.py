"""PROVIDED: the email in huey, for `python -m lab bench peers` (huey_peer.py drives it).

A RedisHuey, the task declared with `@huey.task()`; calling the task enqueues it (with its
arguments by position: huey reads a `delay=` keyword as "run later").
"""

from __future__ import annotations

import time

from huey import RedisHuey

from lab.support.experiments.peers import common

huey = RedisHuey(common.QUEUE, url=common.redis_url())


@huey.task()
def send_email(address: str, delay: float) -> None:
    time.sleep(delay)
    common.finished()


@huey.task()
def send_slow_email(address: str, delay: float) -> None:
    """The crash job: the same email, its start recorded too."""
    common.started()
    time.sleep(delay)
    common.finished()

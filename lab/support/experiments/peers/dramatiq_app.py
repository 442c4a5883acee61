"""PROVIDED: the email in Dramatiq, for `python -m lab bench peers` (dramatiq_peer.py drives
it).

A RedisBroker set as the global broker (with the case's settings from PEERS_SETTINGS),
the task declared with `@dramatiq.actor`.
"""

from __future__ import annotations

import time

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from lab.support.experiments.peers import common

broker = RedisBroker(url=common.redis_url(), **common.settings().get("broker", {}))
dramatiq.set_broker(broker)


@dramatiq.actor(queue_name=common.QUEUE)
def send_email(address: str, delay: float) -> None:
    time.sleep(delay)
    common.finished()


@dramatiq.actor(queue_name=common.QUEUE)
def send_slow_email(address: str, delay: float) -> None:
    """The crash job: the same email, its start recorded too."""
    common.started()
    time.sleep(delay)
    common.finished()

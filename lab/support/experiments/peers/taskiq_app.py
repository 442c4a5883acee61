"""PROVIDED: the email in taskiq (with taskiq-redis), for `python -m lab bench peers`
(taskiq_peer.py drives it).

asyncio all through: a broker from taskiq-redis (RedisStreamBroker; ListQueueBroker when
the case says "list"), the task declared with `@broker.task`.
"""

from __future__ import annotations

import asyncio

from taskiq_redis import ListQueueBroker, RedisStreamBroker

from lab.support.experiments.peers import common

SETTINGS = common.settings()
if SETTINGS.get("broker") == "list":
    broker = ListQueueBroker(common.redis_url(), queue_name=common.QUEUE)
else:
    broker = RedisStreamBroker(
        common.redis_url(),
        queue_name=common.QUEUE,
        **({"idle_timeout": SETTINGS["idle_timeout"]} if "idle_timeout" in SETTINGS else {}),
    )


@broker.task
async def send_email(address: str, delay: float) -> None:
    await asyncio.sleep(delay)
    await common.finished_async()


@broker.task
async def send_slow_email(address: str, delay: float) -> None:
    """The crash job: the same email, its start recorded too."""
    await common.started_async()
    await asyncio.sleep(delay)
    await common.finished_async()

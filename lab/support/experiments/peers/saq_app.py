"""PROVIDED: the email in saq, for `python -m lab bench peers` (saq_peer.py drives it).

asyncio all through: a Queue on Redis, the task a coroutine taking saq's `ctx` and its
arguments by keyword; `saq` reads the worker's queue, functions and limits from
`settings` (the case's concurrency and sweep timer from PEERS_SETTINGS).
"""

from __future__ import annotations

import asyncio

from saq import Queue

from lab.support.experiments.peers import common

SETTINGS = common.settings()
queue = Queue.from_url(common.redis_url(), name=common.QUEUE)


async def send_email(ctx: dict, *, address: str, delay: float) -> None:
    await asyncio.sleep(delay)
    await common.finished_async()


async def send_slow_email(ctx: dict, *, address: str, delay: float) -> None:
    """The crash job: the same email, its start recorded too."""
    await common.started_async()
    await asyncio.sleep(delay)
    await common.finished_async()


settings = {
    "queue": queue,
    "functions": [send_email, send_slow_email],
    "concurrency": SETTINGS.get("concurrency", 10),
    **({"timers": {"sweep": SETTINGS["sweep"]}} if "sweep" in SETTINGS else {}),
}

"""PROVIDED: the email in arq, for `python -m lab bench peers` (arq_peer.py drives it).

asyncio all through: the task is a coroutine taking arq's `ctx`; `arq` reads the worker's
functions, Redis and limits from WorkerSettings (the case's from PEERS_SETTINGS).
"""

from __future__ import annotations

import asyncio

from arq.connections import RedisSettings

from lab.support.experiments.peers import common

SETTINGS = common.settings()


async def send_email(ctx: dict, address: str, delay: float) -> None:
    await asyncio.sleep(delay)
    await common.finished_async()


async def send_slow_email(ctx: dict, address: str, delay: float) -> None:
    """The crash job: the same email, its start recorded too."""
    await common.started_async()
    await asyncio.sleep(delay)
    await common.finished_async()


class WorkerSettings:
    """What `arq` reads: the functions, the Redis, and the case's limits."""

    functions = [send_email, send_slow_email]
    redis_settings = RedisSettings.from_dsn(common.redis_url())
    max_jobs = SETTINGS.get("max_jobs", 10)
    poll_delay = SETTINGS.get("poll_delay", 0.5)
    job_timeout = SETTINGS.get("job_timeout", 300)

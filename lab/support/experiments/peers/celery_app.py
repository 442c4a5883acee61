"""PROVIDED: the email in Celery, for `python -m lab bench peers` (celery_peer.py drives it).

An app on the Redis broker with no result backend (Celery's default), the task declared
with `@app.task`; the case's settings (acks_late and friends) from PEERS_SETTINGS.
"""

from __future__ import annotations

import time

from celery import Celery

from lab.support.experiments.peers import common

SETTINGS = common.settings()
app = Celery("peers", broker=common.redis_url())
app.conf.update(
    task_acks_late=SETTINGS.get("acks_late", False),
    task_reject_on_worker_lost=SETTINGS.get("reject_on_worker_lost", False),
    broker_transport_options=SETTINGS.get("transport", {}),
    broker_connection_retry_on_startup=True,  # silences a deprecation warning, same behaviour
)


@app.task
def send_email(address: str, delay: float) -> None:
    time.sleep(delay)
    common.finished()


@app.task
def send_slow_email(address: str, delay: float) -> None:
    """The crash job: the same email, its start recorded too."""
    common.started()
    time.sleep(delay)
    common.finished()

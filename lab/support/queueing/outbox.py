"""PROVIDED: a fake mail provider, for the crash lab (step 10).

`deliver()` "sends" an email by appending it to a Redis list, the outbox, so that a
notebook or a test can count what was sent, whichever process sent it. Like a real
provider (Postmark, SES, Stripe's API), it takes an optional idempotency key and sends at
most once per key: a repeat with the same key is accepted and sends nothing. The key and
the email are written in one Lua script, so that no crash can fall between them.

`send()` is how the workbook's tasks send in a job (send_fake_email(), so every email the
API queues):
inside a job, keyed by the job and the address, so that a job run again after its worker
died (RQ's retries) sends nothing its first run sent - step 10's send_email_once(), done for
every email. `send_receipt()` is a task that delivers without a key: run twice, it sends twice.
"""

from __future__ import annotations

import json
import logging
import time

from redis import Redis
from rq import get_current_job

from lab.support.config import get_settings

log = logging.getLogger(__name__)

#: The Redis list of the emails sent, oldest first (JSON: {"to", "key", "at"}).
OUTBOX_KEY = "workbook:outbox"
#: Where a used idempotency key is kept: KEY_PREFIX + <key>.
KEY_PREFIX = "workbook:outbox:key:"
#: Seconds the provider remembers a key (and keeps the outbox): a day, as providers do.
KEY_TTL = 86400

# KEYS: the outbox, the key's marker (absent: no key). ARGV: the email, the TTL.
_DELIVER = """
if #KEYS == 2 and not redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[2]) then
    return 0
end
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""


def deliver(connection: Redis, to: str, idempotency_key: str | None = None) -> bool:
    """Send an email to `to`: append it to the outbox. With `idempotency_key`, only the
    first call with that key (within KEY_TTL) sends; a repeat returns False, sending nothing.
    Returns whether this call sent the email."""
    email = json.dumps({"to": to, "key": idempotency_key, "at": time.time()})
    keys = [OUTBOX_KEY] if idempotency_key is None else [OUTBOX_KEY, KEY_PREFIX + idempotency_key]
    return bool(connection.eval(_DELIVER, len(keys), *keys, email, KEY_TTL))


def send(to: str) -> bool:
    """Send an email to `to` from the job running now, with the key "<job id>:<to>": once per
    job and address, however many times the job runs. Returns whether this call sent it.
    Outside a job (a task called directly, as notebook 01 and step 04's blocking endpoint
    do) there is no job to key it by, nor a job's Redis to hold the outbox: nothing is
    recorded, and it returns False."""
    job = get_current_job()
    if job is None:
        return False
    return deliver(job.connection, to, idempotency_key=f"{job.id}:{to}")


def deliveries(connection: Redis, to: str | None = None) -> list[dict]:
    """The emails in the outbox (to `to`, or all), oldest first."""
    emails = [json.loads(raw) for raw in connection.lrange(OUTBOX_KEY, 0, -1)]
    return [email for email in emails if to is None or email["to"] == to]


def sent(connection: Redis, to: str | None = None) -> int:
    """How many emails the outbox holds (to `to`, or all)."""
    return len(deliveries(connection, to))


def clear(connection: Redis) -> None:
    """Empty the outbox and forget every idempotency key."""
    keys = [OUTBOX_KEY, *connection.scan_iter(match=KEY_PREFIX + "*", count=1000)]
    connection.delete(*keys)


def send_receipt(to: str, delay: float = 0) -> str:
    """A naive task: deliver a receipt to `to` (no idempotency key), then keep working
    `delay` seconds (rendering, logging) before the job is done. A job of it that is run
    again, after its worker died in those seconds, sends the receipt again."""
    job = get_current_job()
    connection = job.connection if job is not None else Redis.from_url(get_settings().redis_url)
    deliver(connection, to)
    log.info("Receipt sent to %s", to)
    time.sleep(delay)
    return f"Receipt sent to {to}"

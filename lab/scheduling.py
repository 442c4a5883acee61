"""Step 08b - YOUR FILE (lab/scheduling.py): emails sent later.

POST /emails with "send_at" (a time with its zone) or "send_in" (seconds) does not queue
the email: it schedules it. RQ keeps it in the queue's ScheduledJobRegistry, status
"scheduled", and a worker started with --with-scheduler moves it onto its queue when its
time comes. Without such a worker it waits forever.

The provided lines of create_email() (lab/producer.py) call schedule_email() when a
request gives either field; the request's model (lab/support/api/models.py) has already refused
a time in the past, a time without a zone, and both fields at once (422).
"""

from __future__ import annotations

from datetime import timedelta

from rq import Queue
from rq.job import Job

from lab.support.api import EmailRequest

from .tasks import send_fake_email


def schedule_email(queue: Queue, body: EmailRequest) -> Job:
    """Queue send_fake_email(body.email, body.delay) on `queue` to run later: at body.send_at
    when the body gives it, else body.send_in seconds from now; return its Job. Checked:
    the job waits as "scheduled" until then (not "queued"), and a worker runs it after."""
    # TODO: one job, waiting until the moment the body asks for
    raise NotImplementedError("schedule_email() in lab/scheduling.py is not written yet")

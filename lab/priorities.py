"""Step 08a - YOUR FILE (lab/priorities.py): a queue for each priority.

POST /emails with "priority": "high" or "low" puts the email on the queue of that name;
"default" keeps it on the app's queue (QUEUE_NAME). One worker serves them most urgent
first when it is given them in that order:

    python -m lab.worker high default low

The provided lines at the top of create_email() (lab/producer.py) call queue_for().
"""

from __future__ import annotations

from rq import Queue

from lab.support.api import PRIORITIES, sibling_queue


def queue_for(queue: Queue, priority: str) -> Queue:
    """The queue for jobs of `priority`: `queue` itself for "default"; for "high" and "low",
    a queue of that name, otherwise like `queue` (sibling_queue()). ValueError for any other
    priority."""
    # TODO: ValueError unless priority is one of PRIORITIES; default -> queue itself
    raise NotImplementedError("queue_for() in lab/priorities.py is not written yet")

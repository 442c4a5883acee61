"""PROVIDED: the workbook's worker classes, RQ's own classes with methods overridden.

`python -m lab.worker` runs the class your worker_class() picks (step 03) as one of
these: WorkbookWorker for Worker, WorkbookSimpleWorker for SimpleWorker,
WorkbookSpawnWorker for SpawnWorker. Each override says what stock RQ 3.0 does and why
the workbook differs.
"""

from __future__ import annotations

from rq import SimpleWorker, Worker
from rq.worker import SpawnWorker

COMMAND_POLL = 0.2
"""Seconds the command thread waits for a message before it looks whether it should stop."""


class PromptStop:
    """A worker that stops at once: its command thread never holds up its exit."""

    def subscribe(self) -> None:
        """Listen on the worker's command channel (`rq` commands: stop a job, shut down).

        Stock RQ 3.0 listens from a thread that waits up to 60 s for each message
        (`run_in_thread(sleep_time=60)`). A stopped thread notices only when that wait
        ends, and since redis-py 8.2 `PubSubWorkerThread.stop()`, which RQ's teardown
        calls, waits for the thread: each exit could take a minute. This thread waits
        COMMAND_POLL seconds at a time instead, so a stop takes at most that; the extra
        cost is a wake-up of an idle thread, with no Redis command. RQ's teardown itself
        (unsubscribe, stop the thread, close) runs unchanged."""
        self.log.info("Worker %s: subscribing to channel %s", self.name, self.pubsub_channel_name)
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(
            sleep_time=COMMAND_POLL, daemon=True, exception_handler=self._pubsub_exception_handler
        )


class WorkbookWorker(PromptStop, Worker):
    """RQ's Worker (a forked work horse per job), as the workbook runs it."""


class WorkbookSimpleWorker(PromptStop, SimpleWorker):
    """RQ's SimpleWorker (jobs in the worker's own process), as the workbook runs it."""


class WorkbookSpawnWorker(PromptStop, SpawnWorker):
    """RQ's SpawnWorker (a new Python process per job), as the workbook runs it."""


def workbook_class(worker_class: type[Worker]) -> type[Worker]:
    """The workbook's class for `worker_class` (a class of RQ's, or a subclass of one):
    itself when it is one of the workbook's already."""
    if issubclass(worker_class, PromptStop):
        return worker_class
    for rq_class, ours in (
        (SpawnWorker, WorkbookSpawnWorker),
        (SimpleWorker, WorkbookSimpleWorker),
        (Worker, WorkbookWorker),
    ):
        if worker_class is rq_class:
            return ours
    # A subclass of the learner's own: the workbook's behaviour on top of theirs.
    return type(f"Workbook{worker_class.__name__}", (PromptStop, worker_class), {})

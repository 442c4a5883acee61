"""PROVIDED: the workbook's worker classes: RQ's own classes with methods overridden.

`python -m lab.worker` runs the class your worker_class() picks (step 03) as one of these:
WorkbookWorker for Worker, WorkbookSimpleWorker for SimpleWorker, WorkbookSpawnWorker for
SpawnWorker (a mixin on RQ's class, as rq/worker/worker_classes.py builds HerokuWorker),
and `--processes N` runs them in a WorkbookPool. Their settings are constructor arguments
whose defaults are read when a worker is made. Each override says what stock RQ 3.0 does
and why the workbook differs.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from rq import Queue, SimpleWorker, Worker
from rq.defaults import DEFAULT_LOGGING_DATE_FORMAT, DEFAULT_LOGGING_FORMAT
from rq.exceptions import StopRequested
from rq.job import Job
from rq.job_lifecycle import call_exception_handlers
from rq.utils import ensure_job_list, get_connection_from_queues
from rq.worker import DequeueStrategy, SpawnWorker
from rq.worker_pool import WorkerData, WorkerPool

from lab.support.config import get_settings, safe_url
from lab.support.queueing.recovery import recover_in_maintenance
from lab.support.workers.outage import (
    OUTAGE_EXIT,
    REDIS_DOWN,
    Outage,
    RidingScheduler,
    client_like,
)
from lab.support.workers.poison import (
    CRASH_EXIT,
    WorkerCrashed,
    fail_poison_job,
    fetch_or_fail,
    poison_problem,
    poison_reason,
)

COMMAND_POLL = 0.2
"""Seconds the command thread waits for a message before it looks whether it should stop."""


class WorkerQueue(Queue):
    """RQ's Queue, as the workbook's workers take jobs from it."""

    def acquire_maintenance_lock(self) -> bool:
        """RQ holds a queue's cleanup lock 899 s: a worker killed while it cleans (or stopped
        by SIGTERM, which raises where it is) never releases it, and then no worker fails
        that queue's abandoned jobs for 15 minutes. Here it is held MAINTENANCE_INTERVAL s."""
        ttl = get_settings().maintenance_interval
        return bool(self.connection.set(self.registry_cleaning_key, 1, nx=True, ex=ttl))

    def fetch_job(self, job_id: str) -> Job | None:
        """RQ's raises on a job it cannot load, and its maintenance loads each job of the
        queue's intermediate list with it: a poison job there (which another worker has
        just taken, or which a worker of stock RQ left) ends the loop of every worker that
        cleans the queue. Here such a job is failed as a poison job (poison.py), and None
        returned, as RQ's does for a job that is no more. So is a job hash without data,
        which RQ takes for no job at all, and which would otherwise be queued again by the
        recovery of lost jobs (its status says queued) and skipped, again and again."""
        return fetch_or_fail(self, job_id, super().fetch_job)


class WorkbookWorkerMixin:
    """The workbook's changes to an RQ worker class; put it first among the bases."""

    queue_class = WorkerQueue

    def __init__(
        self,
        queues: str | Queue | Sequence[str | Queue],
        name: str | None = None,
        *,
        connection: Redis | None = None,
        job_lease: int | None = None,
        outage_limit: int | None = None,
        dequeue_strategy: str = "default",
        **kwargs: Any,
    ) -> None:
        """RQ's constructor, with the workbook's settings (read now) for what is not given:
        default_result_ttl RESULT_TTL, worker_ttl WORKER_TTL, serializer RQ_SERIALIZER,
        maintenance_interval MAINTENANCE_INTERVAL, job_monitoring_interval JOB_HEARTBEAT,
        job_lease JOB_LEASE, outage_limit REDIS_OUTAGE_LIMIT; dequeue_strategy is work()'s.

        The queues go to RQ by name, so that it builds them with this worker's serializer
        (as a WorkerQueue); the worker talks to Redis on a client like `connection` whose
        retry rides out outages (outage.py)."""
        settings = get_settings()
        for key, default in (
            ("default_result_ttl", settings.result_ttl),
            ("worker_ttl", settings.worker_ttl),
            ("serializer", settings.serializer),  # a name: SpawnWorker's horse resolves it
            ("maintenance_interval", settings.maintenance_interval),
            ("job_monitoring_interval", settings.job_heartbeat),
        ):
            if kwargs.get(key) is None:
                kwargs[key] = default
        self.job_lease = job_lease or settings.job_lease
        self.dequeue_strategy = DequeueStrategy(dequeue_strategy)
        limit = outage_limit or settings.redis_outage_limit
        self.outage = Outage(self, safe_url(settings.redis_url), limit)
        queues = ensure_job_list(queues)
        connection = connection or get_connection_from_queues(queues)
        names = [queue.name if isinstance(queue, Queue) else queue for queue in queues]
        super().__init__(names, name, connection=client_like(connection, self.outage), **kwargs)

    def work(self, *args: Any, dequeue_strategy: DequeueStrategy | None = None, **kwargs: Any):
        """RQ takes the dequeue strategy as an argument of work(), which a WorkerPool never
        passes. Here it is the worker's own (--dequeue-strategy), given to its constructor."""
        strategy = dequeue_strategy or self.dequeue_strategy
        return super().work(*args, dequeue_strategy=strategy, **kwargs)

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

    def _pubsub_exception_handler(self, exc: BaseException, pubsub: Any, thread: Any) -> None:
        """RQ's logs "could not connect to Redis instance ... retrying in 2 seconds" for
        each failed read of the command thread, and ends it with a traceback on anything
        else. Here an outage gets this far only when the worker stops or gives up on Redis
        (its client waits otherwise): the thread ends quietly; anything else, in one line."""
        if not isinstance(exc, (*REDIS_DOWN, SystemExit)):  # OutageTooLong is a SystemExit
            self.log.warning("Worker %s: stops listening for commands (%s)", self.name, exc)
        thread.stop()

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        """RQ gives a started job a lease of the heartbeat interval + 60 s (a SimpleWorker's:
        the job's timeout + 60 s), and a job whose worker was killed waits for a maintenance
        (every 600 s) after that: 811 s measured. Here the lease is JOB_LEASE seconds."""
        return self.job_lease

    def dequeue_job_and_maintain_ttl(self, timeout: int | None, max_idle_time: int | None = None):
        """RQ's idle worker blocks on its queues for WORKER_TTL - 15 s (405) at a time and runs
        maintenance only between two waits. Here it waits at most a third of
        MAINTENANCE_INTERVAL, so that maintenance comes on time.

        RQ loads each job as it takes it, and a job it cannot load (a timestamp `x`) raises
        out of here: RQ's loop ends, exit 0, the jobs behind it left queued. Here that job
        is failed as a poison job (poison.py), in one log line, and the next one taken; any
        other error ends the loop with WorkerCrashed (exit 1)."""
        if timeout is not None:
            timeout = max(1, min(timeout, self.maintenance_interval // 3))
        while True:
            try:
                return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
            except StopRequested:  # a signal (RQ attaches a job id to it too, if loading)
                raise
            except Exception as exc:
                job_id = getattr(exc, "job_id", None)  # RQ's, for a job it could not load
                if job_id is None:
                    raise self._crashed(exc) from exc
                self._fail_poison(exc.queue, job_id, exc)  # type: ignore[attr-defined]

    def run_maintenance_tasks(self) -> None:
        """RQ's maintenance (every 600 s) cleans the registries: abandoned jobs are failed or
        retried, and so is a job left a minute in an intermediate list although it never ran.
        Here (every MAINTENANCE_INTERVAL s) the recovery of lost jobs (recovery.py) comes
        first: such a job is queued again.

        RQ's loop ends on an error out of it, exit 0; here with WorkerCrashed (exit 1)."""
        with self._or_crash():
            recover_in_maintenance(self.connection, self.queues, self.maintenance_interval)
            super().run_maintenance_tasks()

    def check_for_suspension(self, burst: bool) -> None:
        """RQ's loop ends on an error out of it, exit 0; here with WorkerCrashed (exit 1)."""
        with self._or_crash():
            super().check_for_suspension(burst)

    def execute_job(self, job: Job, queue: Queue) -> None:
        """RQ's loop ends on an error out of execute_job(), exit 0: one of the job's
        bookkeeping (the job's own errors fail it where it runs). Here the job is failed as
        a poison job (poison.py) and the worker goes on.

        RQ's SimpleWorker sends no heartbeat while it runs a job (a forking worker's main
        process does, every job_monitoring_interval s): a job longer than its lease would
        pass for abandoned. Here a thread beats for it every JOB_HEARTBEAT seconds."""
        try:
            if isinstance(self, Worker):  # it forks: RQ's own monitor beats
                return super().execute_job(job, queue)
            done = threading.Event()
            beat = threading.Thread(target=self._beat, args=(job, done), daemon=True)
            beat.start()
            try:
                return super().execute_job(job, queue)
            finally:
                done.set()
                beat.join(timeout=5)
        except StopRequested:
            raise
        except Exception as exc:
            for execution in [e for e in self.executions.values() if e.job_id == job.id]:
                self.executions.pop(execution.id)  # or heartbeats would go on for it
            self._fail_poison(queue, job.id, exc)

    def handle_exception(self, job: Job, *exc_info: Any) -> None:
        """RQ logs a failed job with its traceback; one whose data does not decode as
        "<DeserializationError>" and the decoder's traceback. A job whose data does not
        decode or whose function cannot be imported is a poison job: here its failure is
        one line that says what is wrong (poison.py). RQ's exception handlers run for all."""
        problem = poison_problem(job)
        if problem is None:
            return super().handle_exception(job, *exc_info)
        reason = poison_reason(problem)
        self.log.error("Worker %s: %s: job %s failed. %s", self.name, job.origin, job.id, reason)
        call_exception_handlers(self._exc_handlers, job, *exc_info)

    def _fail_poison(self, queue: Queue, job_id: str, error: Exception) -> None:
        """Fail the poison job `job_id` of `queue` (poison.py), saying so in one line."""
        with self._or_crash():
            reason = fail_poison_job(self.connection, queue, job_id, error, self.name)
        self.log.error("Worker %s: %s: job %s failed. %s", self.name, queue.name, job_id, reason)

    @contextlib.contextmanager
    def _or_crash(self) -> Iterator[None]:
        """An error out of the block, which would end RQ's loop with exit status 0, raises
        WorkerCrashed (exit 1) once logged; but a stop (StopRequested) and an outage (the
        client rides it out: outage.py; RQ's dequeue retries) go on as they are."""
        try:
            yield
        except (StopRequested, *REDIS_DOWN):
            raise
        except Exception as exc:
            raise self._crashed(exc) from exc

    def _crashed(self, error: Exception) -> WorkerCrashed:
        self.log.error(
            "Worker %s: stops on an unexpected error, exit status %d", self.name, CRASH_EXIT,
            exc_info=error,
        )  # fmt: skip
        return WorkerCrashed(error)

    def _beat(self, job: Job, done: threading.Event) -> None:
        while not done.wait(self.job_monitoring_interval):
            execution = next(iter(list(self.executions.values())), None)
            if execution is not None:
                try:
                    self.maintain_heartbeats(job, execution)
                except Exception as exc:  # noqa: BLE001 - a beat must not end the job
                    self.log.debug("job heartbeat failed: %s", exc)

    def set_shutdown_requested_date(self) -> None:
        """RQ writes it from its signal handler when a busy worker is asked to stop: during
        an outage that would wait for Redis inside the handler. Here it is given up then."""
        with self.outage.hurry(), contextlib.suppress(*REDIS_DOWN):
            super().set_shutdown_requested_date()

    def _start_scheduler(
        self,
        burst: bool = False,
        logging_level: str | None = "INFO",
        date_format: str = DEFAULT_LOGGING_DATE_FORMAT,
        log_format: str = DEFAULT_LOGGING_FORMAT,
    ) -> None:
        """RQ's starts an RQScheduler, which exits with a traceback on an outage. Here a
        RidingScheduler (outage.py), started the same way, on a client of its own that does
        not wait for Redis (a scheduler that finds Redis away retries on its own)."""
        self.scheduler = RidingScheduler(
            self.queues,
            connection=client_like(self.connection, Retry(NoBackoff(), 0)),
            logging_level=logging_level if logging_level is not None else self.log.level,
            date_format=date_format,
            log_format=log_format,
            serializer=self.serializer,
        )
        if not self.scheduler.acquire_locks():
            return
        if not burst:
            self.scheduler.start()
            return
        try:
            self.scheduler.register_birth()
            self.scheduler.enqueue_scheduled_jobs()
        finally:
            self.scheduler.release_locks()
            self.scheduler.register_death()

    def teardown(self) -> None:
        """RQ's teardown (stop the scheduler, register the death, unsubscribe) raises on an
        outage, with the command thread left running; a stop signal that comes meanwhile (a
        pool stops its workers) raises StopRequested in the middle of it. Here it does not
        wait for Redis: on an outage it stops the command thread itself and the worker's key
        expires on its own; after a stop signal it runs again (its steps bear repeating)."""
        with self.outage.hurry():
            for _ in range(3):
                try:
                    return super().teardown()
                except StopRequested:
                    continue
                except REDIS_DOWN:
                    break
            with contextlib.suppress(Exception):  # a broken connection closes anyway
                if self.pubsub_thread is not None:
                    self.pubsub_thread.stop()
                if self.pubsub is not None:
                    self.pubsub.close()


class WorkbookWorker(WorkbookWorkerMixin, Worker):
    """RQ's Worker (a forked work horse per job), as the workbook runs it."""


class WorkbookSimpleWorker(WorkbookWorkerMixin, SimpleWorker):
    """RQ's SimpleWorker (jobs in the worker's own process), as the workbook runs it."""


class WorkbookSpawnWorker(WorkbookWorkerMixin, SpawnWorker):
    """RQ's SpawnWorker (a new Python process per job), as the workbook runs it."""


def workbook_class(worker_class: type[Worker]) -> type[Worker]:
    """The workbook's class for `worker_class` (a class of RQ's, or a subclass of one):
    itself when it is one of the workbook's already."""
    if issubclass(worker_class, WorkbookWorkerMixin):
        return worker_class
    ours = {
        Worker: WorkbookWorker,
        SimpleWorker: WorkbookSimpleWorker,
        SpawnWorker: WorkbookSpawnWorker,
    }.get(worker_class)
    # For a subclass of the learner's own: the workbook's behaviour on top of theirs.
    return ours or type(f"Workbook{worker_class.__name__}", (WorkbookWorkerMixin, worker_class), {})


class WorkbookPool(WorkerPool):
    """RQ's WorkerPool of the workbook's workers, which stops as a whole when one of them
    gives up on Redis. `gave_up` lists the names of those workers."""

    def __init__(
        self,
        queues: Sequence[str],
        connection: Redis,
        num_workers: int = 1,
        worker_class: type[Worker] = Worker,
        *,
        dequeue_strategy: str = "default",
        **kwargs: Any,
    ) -> None:
        """RQ's constructor; each worker is of workbook_class(worker_class) with
        `dequeue_strategy`, its queues are WorkerQueues, its serializer RQ_SERIALIZER."""
        kwargs.setdefault("serializer", get_settings().serializer)
        kwargs.setdefault("queue_class", WorkerQueue)
        # RQ makes each worker with worker_class(queues, name=..., ...) and calls its work()
        # without a dequeue strategy: the strategy goes to the constructor.
        make = functools.partial(workbook_class(worker_class), dequeue_strategy=dequeue_strategy)
        super().__init__(queues, connection, num_workers, make, **kwargs)
        self.gave_up: list[str] = []

    def handle_dead_worker(self, worker_data: WorkerData) -> None:
        """RQ forgets a worker that exited, and its next check starts another. One that
        exited OUTAGE_EXIT gave up on Redis, and another would fail at once: here the pool
        stops its other workers and exits instead."""
        super().handle_dead_worker(worker_data)
        if worker_data.process.exitcode == OUTAGE_EXIT:
            self.gave_up.append(worker_data.name)
            if self.status != self.Status.STOPPED:
                self.status = self.Status.STOPPED
                self.stop_workers()

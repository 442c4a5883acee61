"""PROVIDED: the command line of the cron scheduler, `python -m lab.periodic` (step 08c).

It checks that Redis answers (with your get_redis()), makes RQ's CronScheduler, registers
the digest with your schedule_digest(), prints the next times it is due and runs the
scheduler until Ctrl-C or SIGTERM. With Redis down or your TODO not written yet, it
prints one line and exits 1.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from croniter import croniter
from redis import Redis
from redis.exceptions import RedisError
from rq import cron_job_registry
from rq.cron import CronJob, CronScheduler
from rq.defaults import DEFAULT_CRON_JOB_HISTORY_LIMIT, DEFAULT_CRON_JOB_HISTORY_TTL
from rq.exceptions import StopRequested
from rq.job import Job
from rq.utils import now

from lab.support.config import safe_url
from lab.support.queueing.serializer import SettingQueue
from lab.support.workers.cli import one_line, usable_settings

ScheduleDigest = Callable[[CronScheduler, str, "int | None"], CronJob]


class SettingCronScheduler(CronScheduler):
    """RQ's CronScheduler, whose jobs are written with RQ_SERIALIZER, as the API's (trust.py).

    Stock RQ 3.0's enqueue_jobs() calls each due CronJob's enqueue(), which makes
    `Queue(name, connection=...)`: pickle, whatever the setting, so a worker under
    RQ_SERIALIZER=json could not load the digest. Here each due job is queued by
    enqueue_on_setting_queue(), which does what CronJob.enqueue() does on a SettingQueue."""

    def enqueue_jobs(self) -> list[CronJob]:
        enqueue_time = now()
        enqueued = []
        for job in self.get_jobs():
            if job.should_run():
                enqueue_on_setting_queue(job, self.connection)
                job.set_enqueue_time(enqueue_time)
                enqueued.append(job)
        return enqueued


def enqueue_on_setting_queue(cron_job: CronJob, connection: Redis) -> Job:
    """RQ 3.0's CronJob.enqueue() with a SettingQueue: queue the job, record it in the cron
    job's history (kept DEFAULT_CRON_JOB_HISTORY_LIMIT long) and in RQ's cron job registry,
    in one round trip."""
    if cron_job.func is None:
        raise ValueError(f"The cron job {cron_job.name} has no function to queue.")
    queue = SettingQueue(cron_job.queue_name, connection=connection)
    with connection.pipeline() as pipeline:
        job = queue.enqueue(
            cron_job.func,
            args=cron_job.args,
            kwargs=cron_job.kwargs,
            **cron_job.job_options,
            pipeline=pipeline,
        )
        stamp = job.enqueued_at.timestamp()
        pipeline.zadd(cron_job.job_history_key, {job.id: stamp})
        pipeline.zremrangebyrank(cron_job.job_history_key, 0, -(DEFAULT_CRON_JOB_HISTORY_LIMIT + 1))
        pipeline.expire(cron_job.job_history_key, DEFAULT_CRON_JOB_HISTORY_TTL)
        cron_job_registry.add(cron_job.name, pipeline, enqueue_timestamp=stamp)
        pipeline.execute()
    logging.getLogger(CronJob.__module__).info(
        f"Enqueued job {cron_job.func.__name__} to queue {cron_job.queue_name}"
    )
    return job


def seconds(text: str) -> int:
    """`--every`'s value: a whole number of seconds, 1 to 86400."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected whole seconds, not {text!r}") from None
    if not 1 <= value <= 86400:
        raise argparse.ArgumentTypeError(f"expected 1 to 86400 seconds, not {value}")
    return value


def next_runs(job: CronJob, count: int = 3, start: datetime | None = None) -> list[datetime]:
    """The next `count` times `job` is due from `start` (default: now), in local time: on
    its cron expression, or every `interval` seconds from `start` (RQ runs an interval job
    at once)."""
    start = (start or datetime.now()).astimezone()
    if job.cron:
        times = croniter(job.cron, start.replace(tzinfo=None))
        return [times.get_next(datetime).astimezone() for _ in range(count)]
    return [start + timedelta(seconds=(job.interval or 0) * i) for i in range(count)]


def main(module: str, argv: Sequence[str] | None = None) -> int:
    """Run `python -m <module>` with `argv`; returns the exit code.

    The functions come from `module` imported by its name, not from `__main__`: a job's
    function is stored by its dotted name, and a worker cannot import `__main__.send_digest`
    (notebook 01)."""
    parser = argparse.ArgumentParser(
        prog=f"python -m {module}", description="Queue a digest job every minute (RQ's cron)."
    )
    parser.add_argument("--every", type=seconds, metavar="SECONDS", help="every N seconds instead")
    parser.add_argument("--queue", help="the queue to put it on (default: QUEUE_NAME)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    settings = usable_settings(module)
    if settings is None:
        return 1
    url = safe_url(settings.redis_url)
    package = module.rpartition(".")[0]
    schedule_digest: ScheduleDigest = importlib.import_module(module).schedule_digest
    get_redis: Callable[[], Redis] = importlib.import_module(f"{package}.connection").get_redis
    # Until the scheduler installs its own handlers, Ctrl-C or SIGTERM ends it quietly too.
    signal.signal(signal.SIGINT, stop_requested)
    signal.signal(signal.SIGTERM, stop_requested)
    scheduler = None
    try:
        connection = get_redis()
        connection.ping()
        scheduler = SettingCronScheduler(connection=connection)
        job = schedule_digest(scheduler, args.queue or settings.queue_name, args.every)
        when = f"every {job.interval} s" if job.interval else f"on cron {job.cron!r}"
        due = ", ".join(t.strftime("%H:%M:%S") for t in next_runs(job))
        print(f"{job.func_name} {when} on {job.queue_name} at {url}; next: {due}", flush=True)
        scheduler.start()  # until SIGINT or SIGTERM
    except (NotImplementedError, RedisError) as exc:
        print(one_line(module, url, exc), file=sys.stderr)
        return 1
    except StopRequested:  # a signal before the scheduler's loop began (it handles later ones)
        if scheduler is not None:
            with contextlib.suppress(RedisError):
                scheduler.register_death()
    return 0


def stop_requested(signum: int, frame: object) -> None:
    raise StopRequested()

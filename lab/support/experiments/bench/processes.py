"""PROVIDED: the processes a bench run measures - the API and the RQ workers.

`Processes.start()` starts `uvicorn <package>.strategies:app` and the workers
(`python -m <package>.worker bench-emails --simple`), `preflight()` tries each endpoint
once, `stop()` stops them all. Each failure is a BenchError of one line.
"""

from __future__ import annotations

import importlib
import sys

from lab.support.config import get_settings, safe_url
from lab.support.course.stubs import NOT_DONE
from lab.support.experiments.bench.load import Request
from lab.support.experiments.bench.settings import EMAIL, QUEUE, BenchError, BenchSettings
from lab.support.experiments.bench.strategies import STRATEGIES, Records
from lab.support.servers.processes import Api, Background, last_line, start_api


class Processes:
    """The API and the workers of one run, and this process's Redis client."""

    worker_class = "SimpleWorker"
    """The workers' class: --simple runs each job in the worker's own process."""

    def __init__(self, settings: BenchSettings):
        from redis import Redis

        self.settings = settings
        self.redis = Redis.from_url(get_settings().redis_url, socket_timeout=5)
        module = f"{settings.package}.strategies"
        try:
            done_prefix: str = importlib.import_module(module).DONE_PREFIX
        except Exception as exc:  # the learner's file may not import: say so in one line
            raise BenchError(f"cannot import {module}: {type(exc).__name__}: {exc}") from None
        self.records = Records(self.redis, done_prefix)
        """Where the strategies read when their emails were done."""
        self.api: Api | None = None
        self.workers: list[Background] = []

    def start(self) -> None:
        package, env = self.settings.package, {"QUEUE_NAME": QUEUE}
        self.queue().empty()
        command = [sys.executable, "-m", f"{package}.worker", QUEUE, "--simple"]
        self.workers = [Background("bench-worker", command) for _ in range(self.settings.workers)]
        try:
            self.api = start_api(package, module="strategies", env=env)
        except (RuntimeError, TimeoutError) as exc:
            said = last_line(str(exc))
            raise BenchError(f"uvicorn {package}.strategies:app did not start: {said}") from None
        for worker in self.workers:
            try:
                worker.wait_for_output("listening on", timeout=30)
            except (RuntimeError, TimeoutError) as exc:
                said = last_line(worker.output()) or str(exc)
                raise BenchError(
                    f"python -m {package}.worker did not start: {said}",
                    unwritten=NOT_DONE in said,
                ) from None

    def stop(self) -> None:
        from redis.exceptions import RedisError

        for process in [self.api, *self.workers]:
            if process is not None:
                process.__exit__()
        try:
            self.queue().empty()
        except RedisError:
            pass

    def queue(self):
        from lab.support.queueing.serializer import (
            SettingQueue as Queue,  # RQ_SERIALIZER, as the workers'
        )

        return Queue(QUEUE, connection=self.redis)

    def preflight(self) -> None:
        """One request to each endpoint, its email done: a TODO not written yet, or a
        wrong answer, stops the bench here with one line."""
        import httpx

        assert self.api is not None
        with httpx.Client(base_url=self.api.url, timeout=10) as client:
            for strategy in STRATEGIES:
                if not strategy.path:
                    continue  # no endpoint: the PING floor (check_redis() pinged already)
                response = client.post(strategy.path, json={"email": EMAIL, "delay": 0})
                if response.status_code == 501:  # a stub: its answer names the function
                    raise BenchError(
                        f"POST {strategy.path} answered 501: {response.json()['detail']};"
                        " `python -m lab check` shows what else is left",
                        unwritten=True,
                    )
                if not response.is_success:  # the server logs why just after it answered
                    said = last_line(self.api.settled_output())
                    status = response.status_code
                    raise BenchError(f"POST {strategy.path} answered {status}: {said}")
                body = response.json()
                if strategy.id_field and strategy.id_field not in body:
                    raise BenchError(
                        f"POST {strategy.path} answered without a {strategy.id_field!r}:"
                        f" {response.text[:200]}"
                    )
                request = Request(0, 0, response.status_code, body)
                strategy.done_at([request], self.records, self.settings.delay, 0, timeout=10)


def check_redis() -> None:
    """Raise a BenchError that says what to do when Redis does not answer PING."""
    from redis import Redis
    from redis.exceptions import RedisError

    url = get_settings().redis_url
    client = Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    except RedisError as exc:
        raise BenchError(
            f"Cannot reach Redis at {safe_url(url)} ({type(exc).__name__}: {exc}). "
            "Start it with `python -m lab redis start`, or set REDIS_URL."
        ) from None
    finally:
        client.close()

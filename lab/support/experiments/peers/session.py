"""PROVIDED: one library's measurement in a process of its own, as the bench runs it.

Every measurement (a library's throughput, one crash case) runs in a child process of the
bench (`python -m lab.support.experiments.peers.runner|crash ...`), because the apps read
their Redis and settings from the environment when imported, as real apps do, and some
libraries keep global state (Dramatiq's broker, Celery's current app). Session gives it:

- a private Redis (redis_server.PrivateServer: a free port, a temporary folder) started
  first and stopped last, so that nothing is left in any other Redis; persistence off,
  as benchmarks run it;
- the library's adapter (<library>_peer.py), which imports its app (<library>_app.py)
  once PEERS_REDIS_URL and PEERS_SETTINGS are set;
- workers: the library's own command, with this checkout on PYTHONPATH, in a process group
  of their own; `stop()` kills the whole tree (-9), work horses included, and deletes the
  log. A SIGTERM to the child (the bench interrupted) unwinds the same way.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

from lab.support.experiments.peers import common
from lab.support.experiments.peers.common import DONE_KEY, SETTINGS_VARIABLE, URL_VARIABLE

#: The private Redis servers this process started: {"port", "folder"} (a test checks that
#: none is left behind).
USED: list[dict] = []


def exit_on_sigterm() -> None:
    """SIGTERM raises SystemExit, so that `finally:` stops workers and Redis."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


class Session:
    """A private Redis, the library's adapter on it, and the workers it starts."""

    def __init__(self, library: str, settings: dict | None = None) -> None:
        from lab.support.servers.redis_server import PrivateServer

        self.library = library
        self.settings = settings or {}
        self.server = PrivateServer()
        self.workers: list = []
        self.peer: common.Peer | None = None
        self.redis = None
        try:
            self.server.start()  # its port is known once it runs (a taken one is replaced)
            USED.append({"port": self.server.port, "folder": str(self.server.folder)})
            self.url = self.server.url
            self.redis = self.server.client()
            self.redis.config_set("appendonly", "no")  # persistence off, as in a benchmark:
            self.redis.config_set("save", "")  # no append-only file, no snapshots
            os.environ[URL_VARIABLE] = self.url
            os.environ[SETTINGS_VARIABLE] = json.dumps(self.settings)
            self.peer = importlib.import_module(common.peer_module(library)).Peer()
        except BaseException:
            self.close()
            raise
        self.version = version(self.peer.package)

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def flush(self) -> None:
        """An empty database for the next measurement (the Redis is this session's own)."""
        self.redis.flushall()
        self.peer.reset()

    def start_worker(self, argv: list[str], settings: dict | None = None, env: dict | None = None):  # noqa: ANN201
        """The library's worker `argv` on this Redis, with `settings` for its app."""
        from lab.support.servers.processes import Background

        extra = {
            URL_VARIABLE: self.url,
            SETTINGS_VARIABLE: json.dumps({**self.settings, **(settings or {})}),
            "REDIS_URL": self.url,  # the workbook's worker (RQ's crash cases)
            **(env or {}),
        }
        command = [part.replace("$PEERS_REDIS_URL", self.url) for part in argv]
        worker = Background(f"peers-{self.library}", command, extra)
        self.workers.append(worker)
        return worker

    def stop(self, worker) -> None:  # noqa: ANN001 - a processes.Background
        """kill -9 the worker's whole process tree, then delete its log."""
        worker.crash()
        worker.log_path.unlink(missing_ok=True)
        if worker in self.workers:
            self.workers.remove(worker)

    def settle(self, timeout: float = 10) -> None:
        """Wait until no client of this Redis blocks on a list or stream any more (with no
        worker running). Redis serves a blocking pop of a killed worker until it has seen
        its connection close: a job of the next run would go to the dead worker, lost."""
        deadline = time.monotonic() + timeout
        while self.redis.info("clients")["blocked_clients"] and time.monotonic() < deadline:
            time.sleep(0.02)

    def done(self) -> list[float]:
        """Every finish time recorded so far (the emails' one write each)."""
        return [float(value) for value in self.redis.lrange(DONE_KEY, 0, -1)]

    def wait_done(self, count: int, timeout: float, worker=None) -> int:  # noqa: ANN001
        """Wait until `count` emails are done or `timeout` s passed; return how many are.
        Raises RuntimeError with its output when the worker exits meanwhile."""
        deadline = time.monotonic() + timeout
        while (now := self.redis.llen(DONE_KEY)) < count and time.monotonic() < deadline:
            if worker is not None and not worker.running:
                raise RuntimeError(f"{self.library}'s worker exited:\n{worker.output()[-3000:]}")
            time.sleep(0.02)
        return now

    def close(self) -> None:
        for worker in list(self.workers):
            self.stop(worker)
        try:
            if self.peer is not None:
                self.peer.close()
        finally:
            if self.redis is not None:
                self.redis.close()
            self.server.kill()  # its data is thrown away: no need for a graceful stop
            self.server.close()


def main(measure: Callable[[list[str]], Any], argv: list[str] | None = None) -> int:
    """A child's entry point: `measure(argv)`'s result as JSON on the last line of stdout."""
    exit_on_sigterm()
    result = measure(sys.argv[1:] if argv is None else argv)
    print(json.dumps({**result, "private_redis": USED}), flush=True)
    return 0

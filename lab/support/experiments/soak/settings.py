"""PROVIDED: the settings of one `python -m lab soak` run, and its error."""

from __future__ import annotations

from dataclasses import dataclass

from lab.support.experiments.harness import BenchError

CHAOS = ("none", "worker-kill", "redis-restart", "redis-kill")


class SoakError(BenchError):
    """The soak cannot run; the message says why (a BenchError, for run_and_report())."""


@dataclass(frozen=True)
class SoakSettings:
    """One soak run, as `python -m lab soak`'s flags chose it."""

    requests: int = 5000
    concurrency: int = 50
    workers: int = 4
    simple: bool = False  # SimpleWorker (--simple) instead of the forking Worker
    chaos: str = "none"
    events: int | None = None  # strikes of the chaos (default: 3 worker kills, 1 outage)
    down: float = 9.0  # seconds Redis stays down at each outage (the issue's ~9 s)
    kill_every: float | None = None
    """With --chaos worker-kill: SIGKILL a worker every this many seconds, from 10% of the
    requests until the sending ends (--events, when given, caps the kills), instead of
    --events kills at random moments."""
    seed: int = 14
    delay: float = 0.02  # seconds each email takes
    resend_for: float = 90.0
    """Seconds a client keeps re-sending one request before it gives up: longer than
    IDEMPOTENCY_CLAIM_TTL, so that a claim left by an outage can expire meanwhile."""
    drain_for: float | None = None
    """Seconds the drain waits for the next job to end (default: from JOB_LEASE and
    MAINTENANCE_INTERVAL)."""
    env: tuple[tuple[str, str], ...] = ()  # settings for the API and workers, as text
    package: str = "lab"

    @property
    def chaos_events(self) -> int:
        if self.chaos == "none":
            return 0
        if self.events is not None:
            return self.events
        if self.kill_every is not None:
            return 1  # at least one kill; as many as the sending lasts
        return 3 if self.chaos == "worker-kill" else 1


DEFAULT = SoakSettings()
QUICK = SoakSettings(
    requests=300, concurrency=20, workers=2, down=3.0, resend_for=25.0,
    env=(("MAINTENANCE_INTERVAL", "2"), ("JOB_HEARTBEAT", "1"), ("JOB_LEASE", "6"),
         ("IDEMPOTENCY_CLAIM_TTL", "5")),
)  # fmt: skip
"""Small and short, for the tests: settings scaled down so that a killed worker's job is
failed, and a claim left by an outage expires, within the run."""

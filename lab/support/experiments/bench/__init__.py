"""PROVIDED: `python -m lab bench` and its kinds, measured: step 04's strategies (cli,
strategies, load), the workers of step 07 (workers_cli, workers), the cost of GET /stats
(stats_cli) and the crash lab's figures (abandoned)."""

from lab.support.experiments.bench.load import burst, server_threads
from lab.support.experiments.bench.strategies import run_on_slots

__all__ = ["burst", "run_on_slots", "server_threads"]

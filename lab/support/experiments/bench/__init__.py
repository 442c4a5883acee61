"""PROVIDED: `python -m lab bench` - the strategies of step 04, measured side by side.

    cli         the command line: flags, --help, main()
    measure     one run: every strategy at every concurrency, one cell at a time
    processes   the API and the RQ workers it starts and stops; the preflight, which
                says in one line why a request failed (a 501 names the stub)
    strategies  each strategy: how it is driven, when its emails are done, its slots
    load        the load generator (httpx, asyncio); burst() for notebooks
    model       when the emails should be done, on each strategy's slots
    report      the rows, their JSON fields, the text table, client-bound marks
    settings    BenchSettings, the bench's queue and its one error

Every module imports httpx, redis, rq and tqdm inside the functions that use them, so
that `python -m lab --help` works before the dependencies are installed.
"""

from lab.support.experiments.bench.load import Request, burst, run_in_thread, server_threads
from lab.support.experiments.bench.model import MODEL, model_done_s, run_on_slots
from lab.support.experiments.bench.report import FIELDS, Row, percentile
from lab.support.experiments.bench.settings import BenchError, BenchSettings
from lab.support.experiments.bench.strategies import STRATEGIES, Records, Strategy

__all__ = [
    "FIELDS",
    "MODEL",
    "STRATEGIES",
    "BenchError",
    "BenchSettings",
    "Records",
    "Request",
    "Row",
    "Strategy",
    "burst",
    "model_done_s",
    "percentile",
    "run_in_thread",
    "run_on_slots",
    "server_threads",
]

"""PROVIDED: `python -m lab bench workers` - the worker side, measured (notebook 07).

Every configuration runs twice in a row, once with the lab's worker
(`python -m <package>.worker [--simple|--spawn] [--processes N]`) and once with RQ's
stock command (`rq worker` for N = 1, else `rq worker-pool -n N`), the same class and N:

- the cost ladder: no-op jobs through one Worker (a fork per job), SimpleWorker (no new
  process) and SpawnWorker (a new Python process per job);
- scaling: sleep-bound jobs (send_fake_email, 0.5 s, 3 per worker) and CPU-bound jobs
  (hash_chain, about 50 ms of CPU each, 32 of them) through N = 1, 2, 4, 8 workers;

then `enqueue` one at a time against `enqueue_many` for 1,000 jobs, and how far one Redis
goes: the commands of one job's life (INFO commandstats), the commands per second this
Redis does, and the jobs/s ceiling those two give. Each row's time runs from the enqueue
to the last job's end; worker start-up is not in it.
"""

from __future__ import annotations

import argparse
import importlib
import itertools
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

from lab.support.experiments import claims, harness
from lab.support.experiments.bench.workers import CLASSES, KINDS, QUEUE

CONFIG = ("worker_class", "processes", "kind", "jobs")  # what plan() sets of a run
HELP = "measure the worker side: classes, N processes, sleep- vs CPU-bound (step 07)"

FIELDS = {
    "worker": "lab (python -m lab.worker) or rq (RQ's rq worker / rq worker-pool)",
    "worker_class": "Worker, SimpleWorker or SpawnWorker",
    "processes": "N, the workers running at once",
    "kind": "noop (delay 0), sleep (send_fake_email's delay) or cpu (hash_chain)",
    "jobs": "jobs queued at once (one enqueue_many)",
    "job_s": "each job's own work: its sleep, or one hash_chain's CPU time here",
    "seconds": "from the enqueue to the last job's ended_at",
    "jobs_per_s": "jobs / seconds",
    "workers_used": "distinct workers that ran the jobs",
}
EPILOG = harness.fields_help(
    "--json PATH writes {cores, runs, enqueue, redis, targets}; targets (null with --quick)"
    " each have target, state (met, MISSED, inconclusive) and verdict; each run has:",
    FIELDS,
    12,
)


@dataclass(frozen=True)
class WorkerBenchSettings:
    ladder_jobs: tuple[int, int, int] = (100, 300, 20)  # no-op jobs through each of CLASSES
    processes: tuple[int, ...] = (1, 2, 4, 8)
    scaling_classes: tuple[str, ...] = ("SimpleWorker", "Worker")
    delay: float = 0.5  # seconds per sleep-bound job
    sleep_rounds: int = 3  # sleep-bound jobs per worker
    cpu_s: float = 0.05  # CPU seconds per CPU-bound job
    cpu_jobs: int = 32  # CPU-bound jobs per run (at least 4 per worker)
    enqueue_jobs: int = 1000
    package: str = "lab"
    judge: bool = True  # judge the targets (re-measuring a miss); too few jobs when quick


DEFAULT = WorkerBenchSettings()
QUICK = WorkerBenchSettings(
    ladder_jobs=(12, 100, 4),
    processes=(1, 4),
    scaling_classes=("SimpleWorker",),
    delay=0.1,
    sleep_rounds=5,
    cpu_jobs=16,
    judge=False,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    n = " ".join(map(str, QUICK.processes))
    quick = (
        f"fewer jobs, N = {n}, SimpleWorker only for scaling, targets not judged"
        " (~1 min instead of a few)"
    )
    parser.add_argument("--quick", action="store_true", help=quick)
    harness.add_common_arguments(
        parser, "worker.py, pool.py and tasks.py", "also write the results"
    )


def plan(s: WorkerBenchSettings) -> list[dict]:
    """The configurations to measure, each a throughput() call without the worker."""
    runs = [
        {"worker_class": cls, "processes": 1, "kind": "noop", "jobs": jobs}
        for cls, jobs in zip(CLASSES, s.ladder_jobs, strict=True)
    ]
    for kind in ("sleep", "cpu"):
        for cls in s.scaling_classes:
            for n in s.processes:
                jobs = s.sleep_rounds * n if kind == "sleep" else max(s.cpu_jobs, 4 * n)
                runs.append({"worker_class": cls, "processes": n, "kind": kind, "jobs": jobs})
    return runs


def measure(s: WorkerBenchSettings, progress: bool | None = None) -> dict:
    """Every run of the plan (lab and rq), the enqueue rates and Redis's cost."""
    from redis import Redis

    from lab.support.config import get_settings
    from lab.support.experiments.bench import redis_cost
    from lab.support.experiments.bench.workers import rounds_for, throughput, usable_cores

    harness.check_redis()
    url, package = get_settings().redis_url, s.package
    redis = Redis.from_url(url, socket_timeout=10)

    def preflight() -> int:  # each learner function the runs need, called once
        importlib.import_module(f"{package}.pool").build_pool([QUEUE], 1, connection=redis)
        importlib.import_module(f"{package}.worker").build_worker([QUEUE], False, redis)
        return rounds_for(package, s.cpu_s)

    rounds = harness.unwritten_guard(preflight, package)  # a TODO stops the bench here, not later

    def both(config: dict, bar=None, flip: bool = False) -> list[dict]:  # noqa: ANN001
        """The lab's and RQ's run of one configuration (`flip`: RQ's first)."""
        runs = []
        for worker in ("rq", "lab") if flip else ("lab", "rq"):  # neither always first
            c = config  # short, for the line below
            if bar is not None:
                bar.set_description(f"{worker} {c['worker_class']} x{c['processes']} {c['kind']}")
            runs.append(asdict(throughput(redis, worker, **c, delay=s.delay, rounds=rounds,
                                          package=package)))  # fmt: skip
            if bar is not None:
                bar.update()
        return runs

    configs, runs = plan(s), []
    with harness.progress_bar(2 * len(configs) + 2, "run", progress) as bar:
        for i, config in enumerate(configs):
            runs += both(config, bar, flip=i % 2 == 1)
        bar.set_description("enqueue vs enqueue_many")
        enqueue = redis_cost.enqueue_rates(redis, package, s.enqueue_jobs)
        bar.update()
        bar.set_description("Redis commands per job and per second")
        commands = redis_cost.commands_per_job(redis, package)
        rate = redis_cost.commands_per_second(redis, url)
        trips = redis_cost.round_trips_per_second(redis)
        bar.update()
    result = {
        "cores": usable_cores(),
        "runs": sorted(runs, key=order),
        "enqueue": [e._asdict() for e in enqueue],
        "redis": {
            "enqueue_commands": commands.enqueue,
            "work_commands": commands.work,
            "commands_per_job": commands.total,
            "commands_per_s": rate.commands_per_s,
            "commands_per_s_method": rate.method,
            "round_trips_per_s": trips,
            "ceiling_jobs_per_s": round(rate.commands_per_s / commands.total),
        },
    }
    result["targets"] = judge_targets(result, both) if s.judge else None
    return result


def order(run: dict) -> tuple:
    """Rows by kind, class (as in CLASSES), N, then lab before rq."""
    return (KINDS.index(run["kind"]), CLASSES.index(run["worker_class"]), run["processes"],
            run["worker"])  # fmt: skip


def key(run: dict) -> tuple:
    return (run["worker"], run["worker_class"], run["processes"], run["kind"])


def ratios(runs: list[dict], base: Callable[[dict], bool], same: slice | tuple) -> dict:
    """Each run's jobs/s over that of the `base` run whose key agrees at `same`."""
    part = (lambda k: k[same]) if isinstance(same, slice) else (lambda k: tuple(k[i] for i in same))
    bases = {part(key(r)): r["jobs_per_s"] for r in runs if base(r)}
    return {key(r): r["jobs_per_s"] / bases[part(key(r))] for r in runs if part(key(r)) in bases}


def speedups(runs: list[dict]) -> dict[tuple, float]:
    """Each run's jobs/s over the same worker, class and kind at N = 1."""
    return ratios(runs, lambda r: r["processes"] == 1, (0, 1, 3))


def lab_over_rq(runs: list[dict]) -> dict[tuple, float]:
    """Each lab row's jobs/s over RQ's stock worker's, same class, N and kind."""
    stock = ratios(runs, lambda r: r["worker"] == "rq", slice(1, None))
    return {k: v for k, v in stock.items() if k[0] == "lab"}


def target_margins(runs: list[dict], cores: int) -> list[tuple[str, float, Callable]]:
    """The issue's targets on `runs`: (text with the worst figure, margin: >= 0 when met,
    which runs a re-measure of it takes again)."""
    ratios, ups = lab_over_rq(runs), speedups(runs)
    worst_key = min(ratios, key=ratios.get)
    worst = ratios[worst_key]
    sleep = [v / k[2] for k, v in ups.items() if k[3] == "sleep" and k[2] > 1]
    worst_sleep = min(sleep, default=1.0)
    cpu = [abs(v - cores) / cores for k, v in ups.items() if k[3] == "cpu" and k[2] > cores]
    cpu_off = max(cpu, default=1.0)  # no N above the cores: nothing shows the plateau
    return [
        (
            f"the lab's worker >= 90% of RQ's stock worker (worst: {worst:.0%})",
            worst - 0.9,
            lambda c: (c["worker_class"], c["processes"], c["kind"]) == worst_key[1:],
        ),
        (
            f"sleep-bound jobs/s >= 0.9 x N for N <= 8 (worst: {worst_sleep:.2f} x N)",
            worst_sleep - 0.9,
            lambda c: c["kind"] == "sleep",
        ),
        (
            f"CPU-bound jobs/s for N > {cores} cores within 20% of {cores} x one worker's"
            f" (furthest: {cpu_off:.0%})",
            0.2 - cpu_off,
            lambda c: c["kind"] == "cpu",
        ),
    ]


def targets(result: dict) -> list[tuple[str, bool]]:
    """The issue's targets, each with whether these runs met it."""
    return [(text, m >= 0) for text, m, _ in target_margins(result["runs"], result["cores"])]


def judge_targets(
    result: dict, rerun: Callable[[dict], list[dict]], busy: Callable[[], float] = claims.busy_cores
) -> list[dict]:
    """Each target judged as claims.judge() does: a miss takes the runs it reads again
    (`rerun(config)`: that configuration's lab and rq runs), up to claims.TRIES tries."""

    def margin(i: int) -> float:
        return target_margins(result["runs"], result["cores"])[i][1]

    def remeasure(i: int) -> None:
        involved = target_margins(result["runs"], result["cores"])[i][2]
        configs = dict.fromkeys(tuple(r[f] for f in CONFIG) for r in result["runs"] if involved(r))
        fresh = [run for c in configs for run in rerun(dict(zip(CONFIG, c, strict=True)))]
        kept = [r for r in result["runs"] if not involved(r)]
        result["runs"] = sorted(kept + fresh, key=order)

    verdicts = []
    for i in range(len(target_margins(result["runs"], result["cores"]))):
        tries = itertools.count()  # try 0 judges the runs already made; later ones re-run
        _, verdict = claims.judge(
            lambda i=i, tries=tries: next(tries) and remeasure(i),
            lambda _, i=i: margin(i),
            busy=busy,
        )
        text = target_margins(result["runs"], result["cores"])[i][0]
        verdicts.append({"target": text, "verdict": str(verdict), "state": verdict.state})
    return verdicts


def report(result: dict) -> str:
    """The text the command prints: the runs' table, enqueue, Redis, targets."""
    runs = result["runs"]
    ups, ratios = speedups(runs), lab_over_rq(runs)
    header = (
        f"{'worker':<7}{'class':<13}{'N':>3}  {'job':<6}{'jobs':>5}{'job s':>8}"
        f"{'seconds':>9}{'jobs/s':>9}{'x N=1':>7}{'lab/rq':>8}"
    )
    lines = [header, "-" * len(header)]
    for r in runs:
        up, ratio = ups.get(key(r)), ratios.get(key(r))
        up_text = "" if up is None or r["processes"] == 1 else f"{up:.2f}"
        ratio_text = "" if ratio is None else f"{ratio:.0%}"
        lines.append(
            f"{r['worker']:<7}{r['worker_class']:<13}{r['processes']:>3}  {r['kind']:<6}"
            f"{r['jobs']:>5}{r['job_s']:>8.3f}{r['seconds']:>9.3f}{r['jobs_per_s']:>9.1f}"
            f"{up_text:>7}{ratio_text:>8}"
        )
    one, many = result["enqueue"]
    redis = result["redis"]
    listed, worked = (", ".join(f"{k} {v:.3g}" for k, v in redis[f"{part}_commands"].items())
                      for part in ("enqueue", "work"))  # fmt: skip
    lines += [
        "",
        f"{one['jobs']:,} jobs: enqueue() one at a time {one['seconds']:.3f} s"
        f" ({one['jobs_per_s']:,} jobs/s); enqueue_many() {many['seconds']:.3f} s"
        f" ({many['jobs_per_s']:,} jobs/s), {one['seconds'] / many['seconds']:.1f}x faster.",
        "",
        f"Redis commands per job: {sum(redis['enqueue_commands'].values()):.3g} to enqueue"
        f" ({listed}),",
        f"  {sum(redis['work_commands'].values()):.3g} to dequeue, run and finish ({worked}):"
        f" {redis['commands_per_job']:g} in all.",
        f"This Redis: {redis['commands_per_s']:,.0f} commands/s"
        f" ({redis['commands_per_s_method']}); {redis['round_trips_per_s']:,} round trips/s"
        " from one client.",
        f"Ceiling of one Redis: {redis['commands_per_s']:,.0f} / {redis['commands_per_job']:g}"
        f" = {redis['ceiling_jobs_per_s']:,} jobs/s.",
        "",
        f"Targets ({result['cores']} usable cores):",
    ]
    if "targets" in result and result["targets"] is None:
        lines.append("  not judged: --quick runs too few jobs to tell a miss from noise")
    elif "targets" in result:  # judged with re-measures (the command's own runs)
        for t in result["targets"]:
            said = "" if t["verdict"] == claims.MET else f" - {t['verdict']}"
            lines.append(f"  {t['state']:<4} {t['target']}{said}")
    else:
        lines += [f"  {'met ' if ok else 'MISSED'} {text}" for text, ok in targets(result)]
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    """Run the worker bench as `args` say; print the report (and write the JSON)."""
    settings = replace(QUICK if args.quick else DEFAULT, package=args.package or "lab")
    return harness.run_and_report(
        measure, settings, args, report, lambda r: f"{len(r['runs'])} runs"
    )

"""PROVIDED: the rows of `python -m lab bench peers`, their JSON fields and the two tables.

Every measured figure is a spread: {"median", "min", "max", "runs"} over repeated runs
(3; --quick: 1). The tables show medians, with min-max where runs differ.
"""

from __future__ import annotations

#: A throughput row's fields (one row per library and worker configuration).
FIELDS = {
    "library, version": "the library, and its version installed here",
    "configuration": "default (its default worker) or best (the best found on 2 cores)",
    "concurrency": "the worker's concurrency model, in words",
    "worker": "the worker's command (no-op jobs); sleep.worker: the same made 8-way",
    "single": "call, jobs, jobs_per_s, p50_ms, p99_ms: one enqueue call per job",
    "bulk": "call, real_bulk (one round trip, or a loop / gather), jobs, jobs_per_s",
    "noop": "jobs, finished, jobs_per_s: queued first, first finish to last; finished"
    " counts the emails' writes (more than jobs when a job ran twice)",
    "sleep": "ways (8), jobs, delay_s, finished, seconds (first start to last finish), ideal_s",
}
#: A crash row's fields.
CRASH_FIELDS = {
    "library, version, case": "the library and the case: defaults, at-least-once, ...",
    "at_least_once": "whether the case is meant to run a killed worker's job again",
    "describe, worker, settings": "what the case sets, and the worker's command",
    "job_s, killed_after_s": "the job's length, and when in it its worker tree was killed",
    "outcome": "re-run | failed | lost",
    "seconds": "from the kill to the re-run or the failure; for lost, the seconds watched",
    "library_state": "the job's status as the library keeps it at the end (RQ, saq), or null",
}


def rows(libraries: list[dict]) -> list[dict]:
    """One flat row per library and configuration (what a notebook puts in a DataFrame)."""
    flat = []
    for library in libraries:
        for config in library["configs"]:
            flat.append(
                {
                    "library": library["library"],
                    "version": library["version"],
                    **config,
                    "single": library["single"],
                    "bulk": library["bulk"],
                }
            )
    return flat


def _count(part: dict) -> str:
    """ "" when every job finished once; else how many did not, or ran twice."""
    extra = part["finished"] - part["jobs"]
    return "" if extra == 0 else f" ({-extra} UNFINISHED)" if extra < 0 else f" (+{extra} twice)"


def _figure(spread: dict, unit: str = "", digits: int = 0) -> str:
    def number(value: float) -> str:
        return f"{value:,.{digits}f}"

    text = number(spread["median"]) + unit
    if spread["min"] != spread["max"]:
        text += f" ({number(spread['min'])}-{number(spread['max'])})"
    return text


def _table(header: list[str], lines: list[list[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *lines, strict=True)]
    out = [" | ".join(cell.ljust(width) for cell, width in zip(header, widths, strict=True))]
    out.append("-+-".join("-" * width for width in widths))
    out += [
        " | ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
        for line in lines
    ]
    return "\n".join(out)


def throughput_table(flat: list[dict]) -> str:
    header = [
        "library",
        "configuration",
        "single enqueue/s (p50 ms)",
        "bulk enqueue/s",
        "no-op jobs/s",
        "8-way sleep s (ideal)",
    ]
    lines = []
    for row in flat:
        single, bulk, sleep = row["single"], row["bulk"], row["sleep"]
        kind = "bulk" if bulk["real_bulk"] else "loop"
        lines.append(
            [
                f"{row['library']} {row['version']}",
                f"{row['configuration']}: {row['concurrency']}",
                f"{_figure(single['jobs_per_s'])} ({single['p50_ms']['median']:.2f})",
                f"{_figure(bulk['jobs_per_s'])} [{kind}: {bulk['call']}]",
                _figure(row["noop"]["jobs_per_s"]) + _count(row["noop"]),
                _figure(sleep["seconds"], " s", 2) + f" ({sleep['ideal_s']:g})" + _count(sleep),
            ]
        )
    return _table(header, lines)


def crash_table(crashes: list[dict]) -> str:
    header = ["library", "case", "outcome", "after", "what the case does"]
    lines = []
    for row in crashes:
        if "error" in row:
            lines.append([row["library"], row["case"], "ERROR", "", row["error"][-200:]])
            continue
        after = f"{row['seconds']:g} s" + (" watched" if row["outcome"] == "lost" else "")
        outcome = row["outcome"]
        if outcome == "lost" and row.get("library_state"):
            outcome += f" ({row['library_state']})"
        lines.append([row["library"], row["case"], outcome, after, row["describe"]])
    return _table(header, lines)

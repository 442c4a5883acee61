"""PROVIDED: `python -m lab bench peers` - the same email in RQ and its peers, side by side.

The fake email (one address, one delay, one Redis write when it ends) is written for each
library with its own API: RQ, Celery, Dramatiq, arq, taskiq (with taskiq-redis), huey and
saq. For each, on a Redis of its own (started and stopped by the bench), with the
library's own worker command:

- enqueue: one call per job (jobs/s, p50 and p99), then its bulk call, saying whether it
  is a real bulk operation (one round trip) or a loop over single enqueues;
- no-op jobs/s through its default worker, then through its best configuration on this
  machine (where that differs);
- sleep-bound: 200 jobs of 0.1 s at 8-way, in seconds, against the ideal 2.5 s;
- the crash table: a 5-s job whose worker's process tree is killed (-9) 1 s in, another
  worker up: is the job run again (after how long), failed, or lost? With the library's
  defaults, and with its at-least-once setting where it has one.

Libraries are measured one after the other, each 3 times (medians, with min-max); the
crash cases run side by side (each waits on its library's timers: RQ's stock worker
takes up to ~15 min). --quick: 1 run of fewer jobs, the default configurations only,
timers scaled down: about a minute. The peers are an optional install: `make peers`.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from importlib.util import find_spec
from pathlib import Path

from lab.support.experiments.harness import fields_help
from lab.support.experiments.peers import LIBRARIES, report

HELP = (
    "the same email in Celery, Dramatiq, arq, taskiq, huey and saq, measured beside RQ, and"
    " who loses a killed worker's job (notebook 13; `make peers` installs them)"
)
EPILOG = (
    fields_help(
        "--json FILE writes {quick, cores, seconds, rows, crash, errors, private_redis};"
        " each row has:",
        report.FIELDS,
        18,
    )
    + "\n"
    + fields_help("each crash row has:", report.CRASH_FIELDS, 26)
)
#: The import name of each library (taskiq's Redis broker is a package of its own).
IMPORTS = {"taskiq": ("taskiq", "taskiq_redis")}


def names(text: str) -> list[str]:
    chosen = [name.strip().lower() for name in text.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(LIBRARIES))
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(
            f"unknown: {', '.join(unknown) or repr(text)}; choose from {','.join(LIBRARIES)}"
        )
    return [name for name in LIBRARIES if name in chosen]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quick", action="store_true", help="1 run, fewer jobs, short timers: about a minute"
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results")
    parser.add_argument(
        "--only",
        type=names,
        default=list(LIBRARIES),
        metavar="NAMES",
        help=f"comma-separated, from {','.join(LIBRARIES)} (default: all)",
    )
    parser.add_argument(
        "--no-crash", dest="crash", action="store_false", help="skip the crash table"
    )


def missing(libraries: list[str]) -> list[str]:
    """The chosen libraries that are not installed here."""
    return [
        name
        for name in libraries
        for module in IMPORTS.get(name, (name,))
        if find_spec(module) is None
    ]


class Child:
    """One measurement in a process of its own; its JSON result is its last line."""

    def __init__(self, module: str, *args: str) -> None:
        self.label = " ".join(args[:2])
        self.out = tempfile.TemporaryFile()
        self.err = tempfile.TemporaryFile()
        command = [sys.executable, "-m", f"lab.support.experiments.peers.{module}", *args]
        from lab.support.config import PROJECT_ROOT
        from lab.support.servers.processes import child_env

        self.process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=child_env(),
            stdout=self.out,
            stderr=self.err,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches the bench only, which stops it
        )

    def result(self, timeout: float) -> dict:
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            code = None
        self.out.seek(0)
        self.err.seek(0)
        lines = self.out.read().decode(errors="replace").strip().splitlines()
        if code == 0 and lines:
            return json.loads(lines[-1])
        why = f"exited {code}" if code is not None else f"still running after {timeout:g} s"
        error = self.err.read().decode(errors="replace").strip()
        return {"error": f"{self.label}: {why}\n{error[-2000:]}"}

    def stop(self) -> None:
        """SIGTERM: the child stops its workers and its Redis, then exits."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def throughput(libraries: list[str], quick: bool) -> list[dict]:
    results = []
    for name in libraries:
        print(f"{name}: measuring ...", flush=True)
        child = Child("runner", name, *(["--quick"] if quick else []))
        try:
            result = child.result(timeout=600 if quick else 3600)
        finally:
            child.stop()
        results.append({"library": name, **result})
        if "error" in result:
            print(f"{name}: {result['error']}", file=sys.stderr, flush=True)
        else:
            print(f"{name}: done in {result['seconds']:g} s", flush=True)
    return results


def crashes(libraries: list[str], quick: bool) -> list[dict]:
    from importlib import import_module

    from lab.support.experiments.peers.common import peer_module

    cases = []
    for name in libraries:
        for case in import_module(peer_module(name)).Peer.crash_cases:
            if not quick or case.quick is not None:
                cases.append((name, case))
    print(f"crash: {len(cases)} cases side by side ...", flush=True)
    flag = ["--quick"] if quick else []
    children = [(name, case, Child("crash", name, case.name, *flag)) for name, case in cases]
    results = []
    try:
        for name, case, child in children:
            watch = case.quick_watch_s if quick else case.watch_s
            result = child.result(timeout=watch + 180)
            results.append({"library": name, "case": case.name, **result})
    finally:
        for _, _, child in children:
            child.stop()
    return results


def main(args: argparse.Namespace) -> int:
    absent = missing(args.only)
    if absent:
        print(
            f"Not installed: {', '.join(absent)}. RQ's peers are an optional install:"
            " run `make peers` (or choose others with --only).",
            file=sys.stderr,
        )
        return 1
    started = time.monotonic()
    measured = throughput(args.only, args.quick)
    libraries = [result for result in measured if "error" not in result]
    crash_rows = crashes(args.only, args.quick) if args.crash else []
    flat = report.rows(libraries)
    print()
    print(report.throughput_table(flat))
    if crash_rows:
        print()
        print(report.crash_table(crash_rows))
    seconds = round(time.monotonic() - started, 1)
    print(f"\n{len(args.only)} libraries in {seconds:g} s on {os.cpu_count()} cores")
    result = {
        "quick": args.quick,
        "cores": os.cpu_count(),
        "seconds": seconds,
        "rows": flat,
        "crash": crash_rows,
        "errors": [row["error"] for row in measured + crash_rows if "error" in row],
        "private_redis": [
            server for row in libraries + crash_rows for server in row.get("private_redis", [])
        ],
    }
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {args.json}")
    unfinished = [
        row
        for row in flat
        if row["noop"]["finished"] < row["noop"]["jobs"]
        or row["sleep"]["finished"] < row["sleep"]["jobs"]
    ]
    return 1 if result["errors"] or unfinished else 0

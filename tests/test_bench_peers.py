"""`python -m lab bench peers` (provided): one --quick run with real workers of RQ and each
of its peers (Celery, Dramatiq, arq, taskiq, huey, saq), each on a private Redis; what its
JSON must hold whatever the figures; nothing left behind; and the peers' optional install
(the peers group: in the lock, out of the learner's requirements). Provided code: it runs
whatever --impl says, and uses no learner fixture."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from test_lock import makefile_recipe, uv

from lab.support.config import PROJECT_ROOT
from lab.support.course.lockfile import pins
from lab.support.experiments.peers import LIBRARIES
from lab.support.experiments.peers.crash import OUTCOMES
from lab.support.experiments.peers.crash import QUICK as CRASH_QUICK
from lab.support.experiments.peers.runner import QUICK, WAYS

ROOT = PROJECT_ROOT
#: Each library's distribution, as pinned (taskiq's Redis broker is a package of its own).
DISTRIBUTIONS = ("rq", "celery", "dramatiq", "arq", "taskiq", "taskiq-redis", "huey", "saq")
SPREAD = {"median", "min", "max", "runs"}


@pytest.fixture(scope="module")
def quick(tmp_path_factory) -> dict:
    """The JSON of one `python -m lab bench peers --quick` (every library, crash table too)."""
    from lab.support.servers.processes import child_env

    out = tmp_path_factory.mktemp("peers") / "peers.json"
    result = subprocess.run(
        [sys.executable, "-m", "lab", "bench", "peers", "--quick", "--json", str(out)],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    data = json.loads(out.read_text())
    data["stdout"] = result.stdout
    return data


def spread_ok(spread: dict) -> bool:
    return (
        set(spread) == SPREAD
        and len(spread["runs"]) == QUICK.runs
        and spread["min"] <= spread["median"] <= spread["max"]
    )


def test_every_library_has_a_row_and_every_job_finished(quick):
    """One row per library (its default worker, --quick), every email done: the no-op
    jobs and the sleep-bound ones, counted from their own Redis writes (a job run twice
    counts twice)."""
    assert quick["errors"] == []
    assert [row["library"] for row in quick["rows"]] == list(LIBRARIES)
    for row in quick["rows"]:
        assert row["configuration"] == "default", row
        assert row["version"] and row["concurrency"] and row["worker"].startswith("python -m")
        # finished counts the emails' writes: more than the jobs when one ran twice (saq's
        # sweep at a worker's start can run a job just taken by another worker again)
        assert row["noop"]["jobs"] == QUICK.noop and row["noop"]["finished"] >= QUICK.noop, row
        sleep = row["sleep"]
        assert sleep["jobs"] == QUICK.sleep and sleep["finished"] >= QUICK.sleep, row
        assert spread_ok(row["noop"]["jobs_per_s"]) and row["noop"]["jobs_per_s"]["min"] > 0


def test_sleep_bound_rows_are_8_way_and_never_beat_the_ideal(quick):
    """8 jobs at a time at most: no run can end sooner than jobs x delay / 8 (a looser
    worker, or a clock read wrong, would)."""
    for row in quick["rows"]:
        sleep = row["sleep"]
        assert sleep["ways"] == WAYS == 8
        assert sleep["ideal_s"] == pytest.approx(QUICK.sleep * QUICK.delay / WAYS)
        assert spread_ok(sleep["seconds"]), sleep
        assert sleep["seconds"]["min"] >= sleep["ideal_s"] * 0.95, row["library"]


def test_enqueue_rows_give_rates_and_percentiles(quick):
    for row in quick["rows"]:
        single = row["single"]
        assert single["call"] and single["jobs"] == QUICK.count
        for field in ("jobs_per_s", "p50_ms", "p99_ms"):
            assert spread_ok(single[field]), (row["library"], field, single[field])
        assert 0 < single["p50_ms"]["median"] <= single["p99_ms"]["median"], single
        assert single["jobs_per_s"]["median"] > 0


def test_bulk_rows_say_which_calls_are_real_bulk_operations(quick):
    """A bulk row names its call and says whether it is one round trip (RQ's enqueue_many
    is a pipeline) or single enqueues looped or gathered."""
    bulk = {row["library"]: row["bulk"] for row in quick["rows"]}
    for library, row in bulk.items():
        assert isinstance(row["real_bulk"], bool) and row["call"], library
        assert row["jobs"] == QUICK.count and spread_ok(row["jobs_per_s"]), library
        if "gather" in row["call"]:
            assert not row["real_bulk"], library
    assert bulk["rq"]["real_bulk"] and "enqueue_many" in bulk["rq"]["call"]
    assert [name for name, row in bulk.items() if row["real_bulk"]] == ["rq"]


def test_every_library_has_a_crash_outcome_with_a_time(quick):
    """Each library's job, its worker tree killed while the job ran: re-run, failed or
    lost, with seconds; an at-least-once setting never loses it without the library's
    own status of the job saying so."""
    crash = quick["crash"]
    assert {row["library"] for row in crash} == set(LIBRARIES)
    for row in crash:
        assert "error" not in row, row
        assert row["outcome"] in OUTCOMES, row
        assert row["job_s"] == CRASH_QUICK["job_s"]
        assert CRASH_QUICK["kill_s"] <= row["killed_after_s"] < row["job_s"], row
        assert 0 < row["seconds"] <= row["watched_s"] + 1, row
        if row["outcome"] == "lost":
            assert row["seconds"] == row["watched_s"], row
        if row["at_least_once"] and row["outcome"] == "lost":
            # never silently: the library's own status says where it left the job (saq
            # 0.26's sweep can leave a swept job "aborting" for good)
            assert row["library_state"] not in (None, "finished", "failed"), row
    cases = {(row["library"], row["case"]) for row in crash}
    assert ("rq", "at-least-once") in cases and ("celery", "defaults") in cases


def test_tables_are_printed(quick):
    for library in LIBRARIES:
        assert re.search(rf"^{library} \S+\s+\| default:", quick["stdout"], re.M), library
    assert "outcome" in quick["stdout"]


def test_nothing_is_left_behind(quick):
    """Every private Redis stopped and its folder deleted; no process of the bench (its
    children, their workers) still running."""
    servers = quick["private_redis"]
    assert len(servers) >= len(LIBRARIES) + len(quick["crash"])
    for server in servers:
        assert not Path(server["folder"]).exists(), server
        with socket.socket() as sock:
            sock.settimeout(0.5)
            assert sock.connect_ex(("127.0.0.1", server["port"])) != 0, server
    ports = {str(server["port"]) for server in servers}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            environ = (proc / "environ").read_bytes().decode(errors="replace")
        except OSError:
            continue
        assert "lab.support.experiments.peers" not in command, command
        found = re.search(r"PEERS_REDIS_URL=redis://127\.0\.0\.1:(\d+)", environ)
        assert not (found and found.group(1) in ports), command


def test_only_takes_known_names(python_m):
    result = python_m("lab", "bench", "peers", "--only", "rq,nosuch")
    assert result.returncode == 2
    assert "unknown: nosuch" in result.stderr


def test_the_peers_are_pinned_in_the_lock_and_kept_out_of_the_learners_install():
    """The peers group: pinned in uv.lock and exported to requirements-peers.txt (what
    `make peers` installs with pip), in neither the learner's nor the dev requirements."""
    peers = pins((ROOT / "requirements-peers.txt").read_text())
    learner = pins((ROOT / "requirements.txt").read_text())
    dev = pins((ROOT / "requirements-dev.txt").read_text())
    for name in DISTRIBUTIONS[1:]:
        assert name in peers, f"{name} is not pinned in requirements-peers.txt"
        assert name not in learner and name not in dev, name
    assert peers["redis"] == learner["redis"], "the peers must use the learner's redis-py"


def test_the_peers_export_matches_the_lock(tmp_path):
    """`make lock` writes it with this command: a lock changed without it fails."""
    fresh = tmp_path / "requirements-peers.txt"
    command = [uv(), "export", "--quiet", "--frozen", "--no-hashes", "--only-group", "peers"]
    subprocess.run([*command, "-o", str(fresh)], cwd=ROOT, check=True, timeout=60)

    def body(path: Path) -> list[str]:
        return [line for line in path.read_text().splitlines() if not line.startswith("#")]

    assert body(ROOT / "requirements-peers.txt") == body(fresh), "run `make lock` and commit"


def test_make_lab_leaves_the_peers_out_and_make_test_puts_them_in():
    """`make lab` (setup) never installs them; `make peers` does, and `make test`
    (setup-dev) through it; with pip, from the export without resolving (--no-deps)."""
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^setup: \$\(VENV\)/\.lab-\$\(INSTALL\)$", makefile, re.M)
    assert "peers" not in makefile_recipe("$(VENV)/.lab-uv")
    assert re.search(r"^setup-dev: .*\$\(VENV\)/\.peers-\$\(INSTALL\)$", makefile, re.M)
    assert re.search(r"^peers: \$\(VENV\)/\.peers-\$\(INSTALL\)$", makefile, re.M)
    assert "--group peers" in makefile_recipe("$(VENV)/.peers-uv")
    assert "--no-deps -r requirements-peers.txt" in makefile_recipe("$(VENV)/.peers-pip")

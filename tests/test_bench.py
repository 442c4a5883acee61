"""`python -m lab bench` (provided): a small real run from a fresh clone, its JSON, its
model, and the one-line messages when it cannot run. It runs checkouts whose lab/ is set
up by each test, whatever --impl says: the bench is provided code, and step 04's tests
check the learner's endpoints."""

from __future__ import annotations

import asyncio
import json
import shutil

import pytest

from lab.support.config import PROJECT_ROOT
from lab.support.course.reference import copy_checkout
from lab.support.experiments.bench import run_on_slots, server_threads
from lab.support.experiments.bench.cli import FIELDS
from lab.support.experiments.bench.load import Request
from lab.support.experiments.bench.strategies import (
    STRATEGIES,
    BenchSettings,
    Records,
    model_done_s,
)
from lab.support.experiments.harness import percentile
from lab.support.servers.processes import free_port
from lab.support.servers.redis_server import probe

SMALL = [
    "--delay", "0.05", "--concurrency", "1", "3", "--requests", "4",
    "--floor-requests", "10", "--workers", "1",
]  # fmt: skip


@pytest.fixture
def bench(python_m):
    """bench(*args, root=..., env=...): `python -m lab bench *args` in the checkout `root`."""
    return lambda *args, root=PROJECT_ROOT, env=None: python_m(
        "lab", "bench", *args, root=root, env=env
    )


def test_from_a_fresh_clone_it_measures_the_solutions_and_says_so(tmp_path, bench):
    """lab/ holds the untouched stubs and no Redis runs (as after `make test`): the bench
    starts Redis and stops it again, notes in one line that it runs solutions/, and the
    JSON holds every strategy and floor at every concurrency."""
    root = copy_checkout(tmp_path / "checkout", lab="stubs")
    out = tmp_path / "bench.json"
    url = f"redis://127.0.0.1:{free_port()}/0"
    result = bench(*SMALL, "--json", str(out), root=root, env={"REDIS_URL": url})
    assert result.returncode == 0, result.stderr
    assert probe(url)[0] == "down", "the Redis the bench started is still running"
    assert result.stderr.count("\n") == 1, result.stderr
    assert "not written yet" in result.stderr
    assert "Measuring the reference solutions/ instead" in result.stderr
    assert result.stdout.startswith("solutions.strategies in one uvicorn process")
    rows = json.loads(out.read_text())
    assert [(r["strategy"], r["concurrency"]) for r in rows] == [
        (s.name, c) for c in (1, 3) for s in STRATEGIES
    ]
    documented = {name for names in FIELDS for name in names.split()}
    assert all(set(row) == documented for row in rows)
    for row in rows:
        assert row["errors"] == 0, row
        assert row["package"] == "solutions"
        assert row["p50_ms"] <= row["p95_ms"] <= row["p99_ms"] <= row["max_ms"]
        assert len(row["timeline"]) == row["requests"]
        if row["strategy"] in ("redis-ping", "noop"):
            assert row["done_s"] is None and row["model_done_s"] is None
        else:  # every email took its 0.05 s, after the first request was sent
            assert row["done_s"] >= 0.05 and row["model_done_s"] >= 0.05
    serial = next(r for r in rows if r["strategy"] == "async-blocking" and r["concurrency"] == 3)
    assert serial["max_ms"] >= 3 * 50  # three emails, one after another
    assert "client ceiling:" in result.stdout


def test_without_redis_it_says_what_to_do(bench, no_redis_server, closed_port):
    env = {**no_redis_server, "REDIS_URL": f"redis://127.0.0.1:{closed_port}/0"}
    result = bench(*SMALL, env=env)
    assert result.returncode == 1
    assert result.stdout == ""
    assert "no redis-server or valkey-server was found" in result.stderr
    assert "Traceback" not in result.stderr


def test_with_package_lab_unwritten_todos_are_named_in_one_line(tmp_path, redis_url, bench):
    """Steps 00-03 done, step 04 not started: the bench says so, without a traceback."""
    root = copy_checkout(tmp_path / "checkout", lab="stubs")
    for name in ["connection", "tasks", "producer", "worker"]:
        shutil.copy2(root / "solutions" / f"{name}.py", root / "lab" / f"{name}.py")
    result = bench(*SMALL, "--package", "lab", root=root)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert (
        "answered 501: send_in_background() in lab/strategies.py is not written yet"
        in result.stderr
    ), f"the bench should name an unwritten function of step 04; it said {result.stderr}"
    assert "python -m lab check" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("arrivals", "slots", "expected"),
    [
        ([0] * 10, 1, 5.0),  # async-blocking: one at a time
        ([0] * 80, 40, 1.0),  # def-blocking: two waves of forty
        ([0] * 40, 40, 0.5),
        ([0] * 41, 40, 1.0),
        ([0, 0.1, 0.2], 4, 0.7),  # enough workers: each starts when it arrives
        ([0] * 40, 4, 5.0),  # 4 workers: ten rounds
    ],
)
def test_model_runs_each_email_on_the_first_free_slot(arrivals, slots, expected):
    assert run_on_slots(arrivals, slots, 0.5) == pytest.approx(expected)


def test_percentile_interpolates_between_ranks():
    values = list(range(1, 101))
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile([3.0], 99) == 3.0


# --- the strategy objects, without a server ------------------------------------------------


def strategy(name: str):
    return next(s for s in STRATEGIES if s.name == name)


@pytest.mark.parametrize(
    ("name", "slots"),
    [
        ("async-blocking", 1),  # the event loop
        ("def-blocking", 7),  # the thread pool
        ("background", 7),  # BackgroundTasks' plain functions run in the thread pool too
        ("rq-enqueue", 3),  # the workers
        ("noop", None),  # the floors send no email
        ("redis-ping", None),
    ],
)
def test_each_strategy_has_its_own_slots(name, slots):
    found = strategy(name).slots
    assert (found.count(workers=3, threads=7) if found else None) == slots
    assert strategy(name).emails == (slots is not None)


def test_each_strategy_sends_its_own_number_of_requests():
    settings = BenchSettings(requests=20, floor_requests=100)
    counts = [(s.name, s.count(settings, 5), s.count(settings, 200)) for s in STRATEGIES]
    assert counts == [
        ("redis-ping", 100, 200),
        ("noop", 100, 200),
        ("rq-enqueue", 20, 200),
        ("background", 20, 200),
        ("def-blocking", 5, 200),  # one burst of `concurrency`
        ("async-blocking", 5, 200),
    ]


def test_the_model_of_each_strategy_uses_its_own_slots():
    """Ten requests sent at once, answered 0.1 s later, 0.5 s emails, 40 threads."""
    requests = [Request(1.0, 1.1, 200) for _ in range(10)]

    def model(name, workers=4):
        return model_done_s(strategy(name), requests, 0.5, workers=workers, threads=40)

    assert model("async-blocking") == pytest.approx(5.0)  # one at a time, from the send
    assert model("def-blocking") == pytest.approx(0.5)  # all ten in threads at once
    assert model("background") == pytest.approx(0.6)  # from the answer, in threads
    assert model("rq-enqueue") == pytest.approx(0.1 + 3 * 0.5)  # 4 workers: three rounds
    assert model("rq-enqueue", workers=10) == pytest.approx(0.6)
    assert model("noop") is None and model("redis-ping") is None


def test_only_the_noop_is_the_client_ceiling():
    assert [s.name for s in STRATEGIES if s.ceiling] == ["noop"]


def test_blocking_emails_and_floors_are_done_when_answered():
    requests = [Request(0.0, 0.3, 200), Request(0.0, 0.7, 200)]
    records = Records(redis=None, done_prefix="unused:")  # nothing to read
    for name in ["async-blocking", "def-blocking", "noop", "redis-ping"]:
        assert strategy(name).done_at(requests, records, delay=0.5, offset=0) == 0.7


def test_background_emails_are_done_when_send_and_record_noted_them(redis_conn):
    background = strategy("background")
    records = Records(redis_conn, "t-bench:done:")
    requests = [Request(0.0, 0.1, 202, {"task_id": "a"}), Request(0.0, 0.2, 202, {"task_id": "b"})]
    redis_conn.set("t-bench:done:a", "100.5")
    assert background.ends(records, ["a", "b"]) is None  # b is not done yet
    redis_conn.set("t-bench:done:b", "101.0")
    assert background.done_at(requests, records, delay=0, offset=100.0) == pytest.approx(1.0)
    assert redis_conn.exists("t-bench:done:a", "t-bench:done:b") == 0  # read once, then deleted


def test_server_threads_is_anyios_default_even_inside_an_event_loop():
    assert server_threads() == 40

    async def in_a_loop() -> int:  # as in a notebook, whose kernel runs an event loop
        return server_threads()

    assert asyncio.run(in_a_loop()) == 40

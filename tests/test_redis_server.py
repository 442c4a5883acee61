"""`python -m lab redis start|stop|status`: a local Redis without Docker or root."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis

from lab.support.config import PROJECT_ROOT
from lab.support.servers import redis_server
from lab.support.servers.processes import child_env, free_port


def lab_redis(action: str, url: str, data_dir: Path, **env: str) -> subprocess.CompletedProcess:
    environment = child_env({"REDIS_URL": url, "REDIS_DATA_DIR": str(data_dir), **env})
    return subprocess.run(
        [sys.executable, "-m", "lab", "redis", action],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=30,
    )


def port_of(url: str) -> str:
    return url.rsplit(":", 1)[1].split("/")[0]


@pytest.fixture
def private(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A URL on a free port and a data folder of its own; its server is stopped after."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    yield url, tmp_path / "data"
    lab_redis("stop", url, tmp_path / "data")


def test_start_status_stop(private):
    url, data_dir = private
    assert lab_redis("status", url, data_dir).returncode == 1

    first = lab_redis("start", url, data_dir)
    assert first.returncode == 0, first.stderr
    assert f"Redis is running at {url} (started now" in first.stdout
    client = Redis.from_url(url)
    assert client.ping() is True
    assert client.config_get("appendonly") == {"appendonly": "yes"}
    assert client.config_get("bind")["bind"] == "127.0.0.1"
    assert Path(client.config_get("dir")["dir"]).resolve() == (data_dir / port_of(url)).resolve()
    pid = int(client.info("server")["process_id"])

    again = lab_redis("start", url, data_dir)
    assert again.returncode == 0
    assert "started by this checkout" in again.stdout and str(pid) in again.stdout
    assert int(client.info("server")["process_id"]) == pid  # reused, not a second server

    assert lab_redis("status", url, data_dir).returncode == 0
    stopped = lab_redis("stop", url, data_dir)
    assert f"Stopped the Redis at {url} (pid {pid})" in stopped.stdout
    assert redis_server.probe(url)[0] == "down"
    assert "No Redis started by this checkout" in lab_redis("stop", url, data_dir).stdout


def test_data_survives_a_restart(private):
    url, data_dir = private
    assert lab_redis("start", url, data_dir).returncode == 0
    Redis.from_url(url).set("workbook:kept", "yes")
    assert lab_redis("stop", url, data_dir).returncode == 0
    assert lab_redis("start", url, data_dir).returncode == 0
    assert Redis.from_url(url).get("workbook:kept") == b"yes"


def test_stop_leaves_a_server_it_did_not_start_running(private, tmp_path):
    url, data_dir = private
    assert lab_redis("start", url, data_dir).returncode == 0
    other_checkout = lab_redis("stop", url, tmp_path / "elsewhere")
    assert "not started by this checkout; leaving it running" in other_checkout.stdout
    assert redis_server.probe(url)[0] == "running"


@pytest.fixture
def not_redis_port() -> Iterator[int]:
    """A port where something that is not Redis answers (like a web server would)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.1)
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    done.set()
    thread.join()
    server.close()


def test_a_port_taken_by_something_else_is_explained(not_redis_port, tmp_path):
    result = lab_redis("start", f"redis://127.0.0.1:{not_redis_port}/0", tmp_path)
    assert result.returncode == 1
    assert f"Port {not_redis_port} on 127.0.0.1 is taken by something that is not Redis" in (
        result.stderr
    )
    assert "REDIS_URL=redis://127.0.0.1:" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_no_server_binary_anywhere_is_explained(tmp_path, no_redis_server):
    url = f"redis://127.0.0.1:{free_port()}/0"
    result = lab_redis("start", url, tmp_path / "data", **no_redis_server)
    assert result.returncode == 1
    assert "no redis-server or valkey-server was found" in result.stderr
    for advice in ("conda", "brew install redis", "apt install redis-server", "docker run"):
        assert advice in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_the_server_binary_is_found_without_root():
    binary = redis_server.server_binary()
    assert binary is not None, redis_server.install_advice()
    assert os.access(binary, os.X_OK)


def test_a_system_port_is_refused_at_once(tmp_path):
    result = lab_redis("start", "redis://127.0.0.1:1/0", tmp_path)
    assert result.returncode == 1
    assert "ports below 1024 are reserved" in result.stderr
    assert not (tmp_path / "1").exists()


def test_a_private_server_never_shares_a_port_another_redis_took(private_redis, tmp_path):
    """free_port() only saw a port free: when another process's Redis took it meanwhile
    (the peers bench starts a dozen private servers side by side), a PrivateServer moves
    to a new port instead of using that Redis (the CI run where two crash cases shared one)."""
    from lab.support.servers.redis_server import PrivateServer

    private_redis.client().set("owner", "first")
    second = PrivateServer(tmp_path / "second")
    taken = private_redis.port
    second.port, second.url = taken, private_redis.url  # as if free_port() had said this one
    try:
        second.start()
        assert second.port != taken
        assert second.ours() and not second.client().exists("owner")
        assert private_redis.client().get("owner") == b"first"
        second.kill()
        second.start()  # a restart keeps the port it has
        assert second.ours()
    finally:
        second.close()
    assert private_redis.answers()

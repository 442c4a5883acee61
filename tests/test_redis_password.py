"""The embedded Redis behind a password (lab/support/servers/redis_server.py): started with the
password of REDIS_URL, which never reaches its command line; listening on 127.0.0.1 only,
with protected mode on; refusing a client without the password or with a wrong one, in one
line that hides it, from `python -m lab redis`, the worker and the API; and the producer, a
worker and `rq info` working through it. Each test runs real processes on a private server.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from redis import Redis
from redis.exceptions import AuthenticationError

from lab.support.config import PROJECT_ROOT
from lab.support.servers.processes import child_env, free_port, poll, start_api, start_worker

#: A password with what a URL must percent-encode, spaces and unicode.
PASSWORD = "p@ss:w/rd %25 é-ü #1"
ENCODED = quote(PASSWORD, safe="")


def lab_redis(action: str, url: str, data_dir: Path) -> subprocess.CompletedProcess:
    env = child_env({"REDIS_URL": url, "REDIS_DATA_DIR": str(data_dir)})
    return subprocess.run(
        [sys.executable, "-m", "lab", "redis", action],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip


def assert_hidden(text: str) -> None:
    for form in (PASSWORD, ENCODED, "p@ss", "w/rd"):
        assert form not in text, f"the password ({form!r}) is shown:\n{text}"
    assert "Traceback" not in text, text


class Server:
    def __init__(self, url: str, data_dir: Path):
        self.url, self.data_dir = url, data_dir
        self.port = int(url.rsplit(":", 1)[1].split("/")[0])

    def wrong(self, password: str = "wrong") -> str:
        return f"redis://:{password}@127.0.0.1:{self.port}/0"

    def bare(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A Redis started by `python -m lab redis start` with REDIS_URL's PASSWORD."""
    data_dir = tmp_path_factory.mktemp("password-redis")
    url = f"redis://:{ENCODED}@127.0.0.1:{free_port()}/0"
    started = lab_redis("start", url, data_dir)
    assert started.returncode == 0, started.stderr
    assert "***" in started.stdout
    assert_hidden(started.stdout + started.stderr)
    yield Server(url, data_dir)
    lab_redis("stop", url, data_dir)


def test_the_password_is_set_and_kept_off_the_command_line(server):
    client = Redis.from_url(server.url)
    assert client.config_get("requirepass")["requirepass"] == PASSWORD  # every character
    assert client.config_get("protected-mode")["protected-mode"] == "yes"
    assert client.config_get("bind")["bind"] == "127.0.0.1"
    pid = int(client.info("server")["process_id"])
    shown = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    assert_hidden(shown)
    status = lab_redis("status", server.url, server.data_dir)
    assert status.returncode == 0 and f"pid {pid}" in status.stdout, status.stdout
    assert "Warning" not in status.stdout
    assert_hidden(status.stdout + status.stderr)


def test_no_password_or_a_wrong_one_is_refused_in_one_line(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
        raw.sendall(b"PING\r\n")
        assert raw.recv(100).startswith(b"-NOAUTH"), "PING without the password"
    with pytest.raises(AuthenticationError):
        Redis.from_url(server.wrong()).ping()
    for url, said in [
        (server.bare(), "asks for a password, and REDIS_URL gives none"),
        (server.wrong(), "refused the password"),
    ]:
        for action in ("status", "start", "stop"):
            result = lab_redis(action, url, server.data_dir)
            out = result.stdout + result.stderr  # status says it on stdout, as for a Redis down
            assert result.returncode == 1 and said in out and out.count("\n") == 1, (action, out)
            assert_hidden(out)
    assert Redis.from_url(server.url).ping()  # the wrong stop did not stop it


def test_the_worker_and_the_api_say_the_password_was_refused(server, python_m):
    wrong = server.wrong(ENCODED[::-1])
    result = python_m("solutions.worker", "--burst", env={"REDIS_URL": wrong}, timeout=60)
    assert result.returncode == 1
    assert result.stderr.startswith("solutions.worker: Redis at redis://:***@"), result.stderr
    assert "refused the password" in result.stderr and result.stderr.count("\n") == 1
    assert_hidden(result.stdout + result.stderr)
    assert ENCODED[::-1] not in result.stdout + result.stderr
    with start_api(package="solutions", env={"REDIS_URL": wrong}) as api:
        answer = httpx.post(f"{api.url}/emails", json={"email": "a@example.com"}, timeout=10)
        health = httpx.get(f"{api.url}/health", timeout=10)
        said = api.output()
    assert answer.status_code == 503 and "refused the password" in answer.json()["detail"]
    assert health.status_code == 503
    for text in (answer.text, health.text, said):
        assert_hidden(text)
        assert ENCODED[::-1] not in text


def test_producer_worker_and_rq_info_use_the_password(server):
    env = {"REDIS_URL": server.url}
    with (
        start_api(package="solutions", env=env) as api,
        start_worker(package="solutions", env=env) as worker,
    ):
        queued = httpx.post(f"{api.url}/emails", json={"email": "a@example.com", "delay": 0})
        assert queued.status_code == 202, queued.text
        job_id = queued.json()["job_id"]
        poll(
            lambda: httpx.get(f"{api.url}/jobs/{job_id}").json()["status"],
            lambda status: status == "finished",
            "the job to finish",
            20,
        )
        info = subprocess.run(
            [sys.executable, "-m", "rq.cli", "info", "--raw"],
            env=child_env({"RQ_REDIS_URL": server.url}), capture_output=True, text=True,
            timeout=60,
        )  # fmt: skip
        said = api.output() + worker.output()
    assert info.returncode == 0, info.stderr
    assert "queue default 0" in info.stdout and "worker " in info.stdout, info.stdout
    for text in (said, info.stdout + info.stderr):
        assert_hidden(text)
    refused = subprocess.run(
        [sys.executable, "-m", "rq.cli", "info", "--raw"],
        env=child_env({"RQ_REDIS_URL": server.wrong(ENCODED[::-1])}), capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert refused.returncode != 0
    assert ENCODED[::-1] not in refused.stdout + refused.stderr


def non_loopback_address() -> str | None:
    """An IPv4 address of this machine other than 127.x, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: it only picks a route
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def test_it_listens_on_loopback_only(server):
    address = non_loopback_address()
    if address is None:
        pytest.skip("this machine has no address but loopback")
    with pytest.raises(OSError):
        socket.create_connection((address, server.port), timeout=2).close()


def test_a_user_of_its_own_and_the_default_user_off(tmp_path):
    """USER:PASSWORD@ makes an ACL user and turns the default user off: no client gets in
    without logging in."""
    url = f"redis://alice:{ENCODED}@127.0.0.1:{free_port()}/0"
    try:
        started = lab_redis("start", url, tmp_path)
        assert started.returncode == 0, started.stderr
        assert Redis.from_url(url).acl_whoami() == "alice"
        with pytest.raises(AuthenticationError):
            Redis.from_url(url.replace("alice:", ":")).ping()  # default user, same password
        port = url.rsplit(":", 1)[1].split("/")[0]
        with socket.create_connection(("127.0.0.1", int(port)), timeout=5) as raw:
            raw.sendall(b"PING\r\n")
            assert raw.recv(100).startswith(b"-NOAUTH")
    finally:
        stopped = lab_redis("stop", url, tmp_path)
    assert "Stopped the Redis at redis://alice:***@" in stopped.stdout, stopped.stderr


def test_an_empty_password_is_none_and_a_password_to_an_open_server_is_pointed_out(tmp_path):
    """redis://:@host is no password: the server starts open. A URL with a password to that
    open server works (redis-py logs in, the server lets it), so status warns that the
    password protects nothing."""
    port = free_port()
    empty = f"redis://:@127.0.0.1:{port}/0"
    try:
        assert lab_redis("start", empty, tmp_path).returncode == 0
        assert Redis(port=port).ping()
        status = lab_redis("status", f"redis://:{ENCODED}@127.0.0.1:{port}/0", tmp_path)
        assert status.returncode == 0
        assert "answers without a password too" in status.stdout, status.stdout
        assert_hidden(status.stdout + status.stderr)
    finally:
        lab_redis("stop", empty, tmp_path)

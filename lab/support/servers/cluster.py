"""PROVIDED: a one-node Redis Cluster, for notebook 07's check of RQ on a cluster.

`one_node_cluster()` starts the workbook's Redis server binary (the one
`python -m lab redis start` uses) in cluster mode, on a free port of 127.0.0.1 and in a
temporary folder, gives it every hash slot, waits until the cluster is "ok", and stops
and deletes it at the end. One node is enough to see what RQ asks of a Redis: commands
and transactions that touch several keys at once, which a cluster accepts only when the
keys share a hash slot.
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
import time
from collections.abc import Iterator

from redis import Redis
from redis.exceptions import RedisError

from lab.support.servers.processes import free_port
from lab.support.servers.redis_server import RedisUnavailable, install_advice, server_binary

SLOTS = 16384
"""A cluster's hash slots: every key belongs to one, CRC16(key) mod 16384."""


def wait_until(check, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except RedisError:
            pass
        if time.monotonic() > deadline:
            raise RedisUnavailable(f"the one-node cluster did not {what} in {timeout:g} s")
        time.sleep(0.05)


@contextlib.contextmanager
def one_node_cluster(timeout: float = 10.0) -> Iterator[str]:
    """Run a one-node cluster while the `with` block runs; yields its URL."""
    binary = server_binary()
    if binary is None:
        raise RedisUnavailable(install_advice())
    port = free_port()
    bus = free_port()  # the cluster bus, by default port + 10000: past 65535 for many ports
    with tempfile.TemporaryDirectory(prefix="workbook-cluster-") as folder:
        command = [
            binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", folder,
            "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
            "--cluster-port", str(bus), "--save", "", "--appendonly", "no",
        ]  # fmt: skip
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        client = Redis(host="127.0.0.1", port=port, socket_timeout=2)
        try:
            wait_until(client.ping, "answer PING", timeout)
            client.execute_command("CLUSTER", "ADDSLOTS", *range(SLOTS))
            state = lambda: b"cluster_state:ok" in client.execute_command("CLUSTER", "INFO")  # noqa: E731
            wait_until(state, "reach cluster_state:ok", timeout)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            client.close()
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()

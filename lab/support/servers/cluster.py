"""PROVIDED: a one-node Redis Cluster, for notebook 07's check of RQ on a cluster: the
workbook's Redis binary in cluster mode on a free port, in a temporary folder, holding
every hash slot. One node shows what RQ asks of a Redis: commands and transactions on
several keys at once, which a cluster accepts only when the keys share a hash slot.
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
from collections.abc import Iterator

from redis import Redis
from redis.exceptions import RedisError

from lab.support.servers.processes import free_port, poll
from lab.support.servers.redis_server import RedisUnavailable, install_advice, server_binary

SLOTS = 16384  # a cluster's hash slots: every key belongs to one, CRC16(key) mod 16384


def wait_until(check, what: str, timeout: float) -> None:  # noqa: ANN001
    def read() -> bool:
        with contextlib.suppress(RedisError):
            return bool(check())
        return False

    try:
        poll(read, bool, what, timeout, every=0.05)
    except TimeoutError:
        raise RedisUnavailable(f"the one-node cluster did not {what} in {timeout:g} s") from None


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

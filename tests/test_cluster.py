"""lab/support/servers/cluster.py (provided): the one-node Redis Cluster of notebook 07."""

from __future__ import annotations

import pytest
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from lab.support.servers.cluster import SLOTS, one_node_cluster


def test_one_node_cluster_holds_every_slot_and_is_gone_afterwards():
    with one_node_cluster() as url:
        client = Redis.from_url(url)
        info = client.execute_command("CLUSTER", "INFO").decode()
        assert "cluster_state:ok" in info, info
        assert f"cluster_slots_assigned:{SLOTS}" in info, info
        assert client.execute_command("CLUSTER", "KEYSLOT", "rq:queues") == 8713
        client.close()
    with pytest.raises(RedisConnectionError):
        Redis.from_url(url, socket_connect_timeout=1).ping()

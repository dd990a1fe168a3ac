# SPDX-License-Identifier: Apache-2.0
"""Health of the agent in front of a real 3-master Redis Cluster (started here with the
Cluster helper of test_redis.py): every master is pinged; healthy only while all of them
answer and every slot has one; a master killed with SIGKILL makes the health reply degraded,
naming that master and no other, by the request's deadline."""
import os
import signal
import sys
import time

import pytest

HERE = os.path.dirname(__file__)
sys.path.insert(0, HERE)
from harness import RawClient, pb  # noqa: E402
from test_redis import Cluster, pytestmark, redis_agent, wait_until  # noqa: E402,F401


@pytest.fixture(scope="module")
def cluster():
    c = Cluster()
    try:
        yield c.start()
    finally:
        c.stop()


def health(c, deadline_ms=3000):
    t0 = time.monotonic()
    h = c.call(deadline_ms=deadline_ms, health=pb().HealthRequest()).health
    return h, time.monotonic() - t0


def test_health_pings_every_master(cluster):
    with redis_agent(cluster.url) as a, RawClient(a.endpoint, 5000) as c:
        # the map names all three masters (two seeds given) once loaded
        wait_until("three nodes known", lambda: {s.name: s.value for s in c.call(
            stats=pb().StatsRequest()).stats.stats}["redis_nodes"] == 3)
        h = wait_until("a healthy cluster", lambda: (lambda x: x if x.healthy else None)(
            health(c)[0]))
        assert h.backend_type == "redis" and h.version != "unknown" and h.latency_ms >= 0
        assert h.error == "" and h.error_type == ""

        victim = cluster.nodes[2]
        victim.kill(signal.SIGKILL)
        h, took = health(c, deadline_ms=3000)
        assert not h.healthy, h
        assert took < 4.0, took
        assert h.error_type == "degraded", h
        assert f"127.0.0.1:{victim.port}" in h.error, h.error
        for n in cluster.nodes[:2]:
            assert f"127.0.0.1:{n.port}" not in h.error, h.error
        assert "2 of 3 redis masters answer" in h.error, h.error
        assert h.latency_ms == -1
        # still degraded on the next asks (the breaker may be open by then: same verdict)
        for _ in range(3):
            h2, _ = health(c)
            assert not h2.healthy and h2.error_type == "degraded"
            assert f"127.0.0.1:{victim.port}" in h2.error

# SPDX-License-Identifier: Apache-2.0
"""The refresh scheduler through real processes: exactly one refresh-due flag among many
concurrent readers, sliding TTL keeping a read key alive, stale entries reported."""
import os
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from harness import AGENT, Agent, RawClient, pb, stats_of, wait_until  # noqa: E402

pytestmark = pytest.mark.skipif(not AGENT, reason="CK_AGENT_BIN not set")

READER = r"""
import sys, time
sys.path[:0] = [sys.argv[2]]
from harness import RawClient, pb
c = RawClient(sys.argv[1], 30000)
start = float(sys.argv[3])
while time.time() < start:
    time.sleep(0.001)
flags = 0
for _ in range(20):
    r = c.call(get=pb().GetRequest(key="hot"))
    assert r.get.found
    flags += r.get.refresh_due
print(flags, flush=True)
"""


def test_exactly_one_reader_on_the_host_is_told_to_refresh():
    # Refresh point at 0% +/- 0: due at once; a claim holds for 30 s.
    with Agent("--refresh-ahead", "1", "--refresh-claim", "600") as a, RawClient(a.endpoint) as c:
        assert c.call(set=pb().SetRequest(key="hot", value=b"v", ttl_s=100)).status == 0
        time.sleep(1.2)  # past 1% (+/-10%) of 100 s: a lower bound, more time changes nothing
        start = time.time() + 0.5
        readers = [subprocess.Popen([sys.executable, "-c", READER, a.endpoint,
                                     os.path.dirname(__file__), str(start)],
                                    stdout=subprocess.PIPE) for _ in range(8)]
        flags = [int(p.communicate(timeout=120)[0]) for p in readers]
        assert sum(flags) == 1, flags
        # The chosen reader writes the key again: the claim is satisfied, nobody is due.
        assert c.call(set=pb().SetRequest(key="hot", value=b"v2", ttl_s=100)).status == 0
        assert not c.call(get=pb().GetRequest(key="hot")).get.refresh_due


def test_claim_passes_to_another_reader_after_the_claim_timeout():
    with Agent("--refresh-ahead", "1", "--refresh-claim", "3") as a, RawClient(a.endpoint) as c:
        c.call(set=pb().SetRequest(key="k", value=b"v", ttl_s=100))
        time.sleep(1.2)  # past the refresh point (a lower bound)
        assert c.call(get=pb().GetRequest(key="k")).get.refresh_due
        claimed = time.monotonic()
        assert not c.call(get=pb().GetRequest(key="k")).get.refresh_due
        # The first refresher never writes back: once its claim (3 s) times out, another
        # reader is told, and not before.
        wait_until(lambda: c.call(get=pb().GetRequest(key="k")).get.refresh_due, interval=0.1,
                   what="the claim to pass to another reader")
        assert time.monotonic() - claimed >= 2.9


def test_fresh_entries_before_the_refresh_point_carry_no_flag(tmp_path):
    with Agent() as a, RawClient(a.endpoint) as c:  # default: 50% +/- 10%
        c.call(set=pb().SetRequest(key="k", value=b"v", ttl_s=100))
        for _ in range(50):
            assert not c.call(get=pb().GetRequest(key="k")).get.refresh_due


def test_stale_entries_are_reported_and_one_reader_refreshes():
    with Agent() as a, RawClient(a.endpoint) as c:
        # A stale window of 5 s holds the five stale reads however slow the machine is.
        c.call(set=pb().SetRequest(key="s", value=b"v", ttl_s=1, stale_ttl_s=5))
        time.sleep(1.1)  # past the TTL (a lower bound)
        gets = [c.call(get=pb().GetRequest(key="s")).get for _ in range(5)]
        assert all(g.found and g.freshness == pb().FRESHNESS_STALE for g in gets)
        assert sum(g.refresh_due for g in gets) == 1
        wait_until(lambda: not c.call(get=pb().GetRequest(key="s")).get.found, interval=0.1,
                   what="the stale window to end")


def test_sliding_ttl_keeps_a_read_key_alive_and_lets_an_unread_one_expire():
    with Agent() as a, RawClient(a.endpoint) as c:
        # TTL 3 s: a read every 0.2 s keeps "read" alive even if the machine stalls a while.
        c.call(set=pb().SetRequest(key="read", value=b"v", ttl_s=3, sliding=True))
        c.call(set=pb().SetRequest(key="unread", value=b"v", ttl_s=3, sliding=True))
        t0 = time.monotonic()
        while time.monotonic() < t0 + 6.5:
            assert c.call(get=pb().GetRequest(key="read")).get.found
            time.sleep(0.2)
        assert c.call(get=pb().GetRequest(key="read")).get.found
        elapsed = time.monotonic() - t0
        assert not c.call(get=pb().GetRequest(key="unread")).get.found
        n = stats_of(c)["sliding_refreshes_total"]
        # At most one refresh per quarter TTL (0.75 s) over >= 6.5 s of reads every 0.2 s.
        assert 3 <= n <= int(elapsed / 0.75) + 1, (n, elapsed)


def test_sliding_namespace_applies_to_every_key_in_it():
    with Agent("--sliding-namespaces", "sess") as a, RawClient(a.endpoint) as c:
        c.call(namespace="sess", set=pb().SetRequest(key="u1", value=b"v", ttl_s=3))
        c.call(namespace="other", set=pb().SetRequest(key="u1", value=b"v", ttl_s=3))
        t0 = time.monotonic()
        while time.monotonic() < t0 + 5.0:  # reads past the 3 s TTL
            c.call(namespace="sess", get=pb().GetRequest(key="u1"))
            c.call(namespace="other", get=pb().GetRequest(key="u1"))
            time.sleep(0.25)
        assert c.call(namespace="sess", get=pb().GetRequest(key="u1")).get.found
        assert not c.call(namespace="other", get=pb().GetRequest(key="u1")).get.found

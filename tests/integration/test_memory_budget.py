# SPDX-License-Identifier: Apache-2.0
"""One memory budget that holds (docs/operations.md, "Memory budget"): a real agent with a
16 MiB memory-limit is filled with values with a TTL whose size changes mid-run (1 KiB,
64 KiB, 2 KiB, 1100 B, 512 B, 200 KB; each phase writes twice the limit; 2 KiB -> 1100 B is
the worst case for heap holes found). Its RSS, sampled after every batch of replies, must
stay within 2 x memory-limit above the RSS it had when it became ready, and the refresh
tracker must never know more keys than the store holds."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from harness import AGENT, Agent, RawClient, pb  # noqa: E402

LIMIT = 16 << 20
# The stated factor (docs/operations.md, "Memory budget"). By construction the store's small
# entries take at most 4/3 of their accounted bytes + 3 MiB (the segment arena compacts), its
# large ones their own mappings, the refresh tracker 1/8: under 1.7x for a 16 MiB limit, and
# 1.28-1.32x measured in every phase. With malloc'd entries the 512 B -> 200 KB switch reached
# 2.0x (the small values' pages each kept a survivor), which is what this test caught.
FACTOR = 2.0
PHASES = (1024, 65536, 2048, 1100, 512, 200_000)
BATCH = 128
# Request bytes in flight at once. Requests the agent has read but not yet answered are
# bounded by max-inflight-bytes, not by memory-limit; how many of them sit in the agent when
# RSS is sampled depends on scheduling. Keeping them to 1 MiB (1/16 of the limit) makes the
# sample measure the store's budget, not the machine's load.
BATCH_BYTES = 1 << 20


def asan_build():
    with open(AGENT, "rb") as f:
        return b"__asan_init" in f.read()


pytestmark = [
    pytest.mark.skipif(not AGENT, reason="CK_AGENT_BIN not set"),
    pytest.mark.skipif(bool(AGENT) and asan_build(),
                       reason="ASan's shadow memory and quarantine are not the agent's RSS"),
]


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def stats(c):
    r = c.call(stats=pb().StatsRequest())
    assert r.status == 0, r
    return {s.name: s.value for s in r.stats.stats}


def fill(c, pid, size, prefix, bound):
    """Writes 2 x LIMIT bytes of size-byte values, at most BATCH requests and BATCH_BYTES in
    flight at a time; returns the highest RSS seen after a batch."""
    value = os.urandom(size)
    n = 2 * LIMIT // size
    per_batch = max(1, min(BATCH, BATCH_BYTES // size))
    peak = 0
    for start in range(0, n, per_batch):
        count = min(per_batch, n - start)
        for i in range(count):
            req = pb().Request(id=c.next_id, deadline_ms=30000, set=pb().SetRequest(
                key=f"{prefix}{start + i}", value=value, ttl_s=3600))
            c.next_id += 1
            c.sock.send(req.SerializeToString())
        for _ in range(count):
            r = c.recv(30000)
            assert r.status == 0, r
        now = rss(pid)
        peak = max(peak, now)
        assert now <= bound, f"{size}-byte values: RSS {now >> 20} MiB > {bound >> 20} MiB"
    return peak


def test_rss_stays_within_the_budget_when_value_sizes_change():
    with Agent("--memory-limit", str(LIMIT)) as a, RawClient(a.endpoint, 30000) as c:
        base = rss(a.proc.pid)
        bound = base + int(FACTOR * LIMIT)
        for phase, size in enumerate(PHASES):
            peak = fill(c, a.proc.pid, size, f"p{phase}:", bound)
            st = stats(c)
            print(f"{size:>7} B values: peak RSS {peak / 2**20:.1f} MiB "
                  f"(base {base / 2**20:.1f}, {(peak - base) / LIMIT:.2f} x limit), "
                  f"{st['store_entries']:.0f} stored, {st['refresh_tracked_keys']:.0f} tracked")
            assert st["store_bytes"] <= LIMIT
            # Tracking goes with the entries the store drops, and has its own cap.
            assert st["refresh_tracked_keys"] <= st["store_entries"]
            assert st["refresh_tracked_bytes"] <= LIMIT / 8
            assert st["store_evictions"] > 0

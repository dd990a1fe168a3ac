# SPDX-License-Identifier: Apache-2.0
"""The L1 metrics headers (spec §2.5: X-CacheKit-L1-Hits, -L2-Hits, -Misses, -L1-Hit-Rate)
through the whole chain: Python stub with a near cache -> agent -> ck-fakeapi, which records
every request's headers. A known sequence of near hits, upstream hits and misses must show
up as those figures once the stub has reported them (Request.near, piggybacked at most about
once a second, so the test waits for the figures, never for a time); with the agent's L1 and
the stub's near cache both off, no request carries them."""
import os
import sys
import time

import pytest

HERE = os.path.dirname(__file__)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "fakeapi"))
from fakeapi import FakeApi  # noqa: E402
from harness import AGENT, Agent  # noqa: E402

pytestmark = pytest.mark.skipif(not (AGENT and os.environ.get("CK_FAKEAPI")),
                                reason="CK_AGENT_BIN / CK_FAKEAPI not set")
cachekit_stub = pytest.importorskip("cachekit_stub")

DEADLINE = 30.0
METRIC_HEADERS = ("x-cachekit-l1-hits", "x-cachekit-l2-hits", "x-cachekit-misses",
                  "x-cachekit-l1-hit-rate")


@pytest.fixture(scope="module")
def api():
    with FakeApi() as a:
        yield a


def agent_for(api, *args):
    return Agent("--upstream", api.url, "--resolve", api.resolve, "--ca-file", api.ca, *args,
                 env={"CACHEKIT_API_KEY": "ck_sdk_test"})


def headers(rec):
    return {name: value for name, value in rec["headers"]}


def test_near_cache_figures_reach_the_api(api):
    api.reset()
    with agent_for(api) as a, \
            cachekit_stub.Client(a.endpoint, near_cache_bytes=1 << 20) as c:
        c.set("k1", b"v1", ttl=600)
        assert c.get("k1") == b"v1"            # near miss, upstream hit (L2 1)
        for _ in range(3):
            assert c.get("k1") == b"v1"        # near hits 3, never reach the agent
        assert c.get("absent") is None         # near miss, upstream miss (misses 1)
        assert c.near_stats()["hits"] == 3
        first = api.requests()
        assert first[0]["method"] == "PUT"
        assert not any(h in headers(first[0]) for h in METRIC_HEADERS)  # nothing to say yet
        want = {"x-cachekit-l1-hits": "3", "x-cachekit-l2-hits": "1",
                "x-cachekit-misses": "1", "x-cachekit-l1-hit-rate": "0.600"}
        deadline = time.monotonic() + DEADLINE
        while True:
            assert c.exists("k1")                # HEAD: carries the figures, counts nothing
            last = headers(api.requests()[-1])
            if all(last.get(h) == v for h, v in want.items()):
                break
            assert time.monotonic() < deadline, last
            time.sleep(0.05)
        assert last["x-cachekit-l1-status"] == "disabled"  # the agent's own L1 is off
        recs = api.requests()
        gets = [r for r in recs if r["method"] == "GET"]
        assert len(gets) == 2                  # the near hits never went upstream


def test_no_figures_when_both_caches_are_off(api):
    api.reset()
    with agent_for(api) as a, cachekit_stub.Client(a.endpoint) as c:
        c.set("k2", b"v2", ttl=600)
        for _ in range(3):
            assert c.get("k2") == b"v2"
        assert c.get("absent") is None
        assert c.exists("k2")
        recs = api.requests()
        assert len(recs) >= 6
        for r in recs:
            assert not any(h in headers(r) for h in METRIC_HEADERS), r


def test_agent_l1_hits_count_without_a_stub_near_cache(api):
    api.reset()
    with agent_for(api, "--l1-size", "1048576") as a, cachekit_stub.Client(a.endpoint) as c:
        c.set("k3", b"v3", ttl=600)
        assert c.get("k3") == b"v3"            # agent L1 miss, upstream hit (L2 1)
        assert c.get("k3") == b"v3"            # agent L1 hit: never reaches the API
        assert c.get("absent") is None         # upstream miss (misses 1)
        assert c.exists("k3")
        recs = api.requests()
        assert len([r for r in recs if r["method"] == "GET"]) == 2
        first, last = headers(recs[0]), headers(recs[-1])
        assert first["x-cachekit-l1-status"] == "miss"
        assert first["x-cachekit-l1-hits"] == "0"   # the agent's L1 is on: figures exist
        assert first["x-cachekit-l1-hit-rate"] == "0.000"
        assert last["x-cachekit-l1-hits"] == "1"
        assert last["x-cachekit-l2-hits"] == "1"
        assert last["x-cachekit-misses"] == "1"
        assert last["x-cachekit-l1-hit-rate"] == "0.333"

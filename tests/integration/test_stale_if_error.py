# SPDX-License-Identifier: Apache-2.0
"""Stale-if-error through the whole chain: stub -> agent -> TLS + HTTP/2 -> ck-fakeapi. When
the API fails (5xx after the retries, the breaker open) a Get of a value the agent wrote within
its stale window is answered with that value, marked stale, and counted; never after a delete,
never for a key it never saw, and not at all when the setting is 0."""
import os
import sys

import pytest

HERE = os.path.dirname(__file__)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "fakeapi"))
from fakeapi import FakeApi  # noqa: E402
from harness import AGENT, Agent, RawClient, pb  # noqa: E402

pytestmark = pytest.mark.skipif(not (AGENT and os.environ.get("CK_FAKEAPI")),
                                reason="CK_AGENT_BIN / CK_FAKEAPI not set")

CK_EUNAVAILABLE, CK_EUPSTREAM = 8, 11
STALE = 2  # cachekit.agent.v1.Freshness


@pytest.fixture(scope="module")
def api():
    with FakeApi() as a:
        yield a


def agent_for(api, *args):
    return Agent("--upstream", api.url, "--resolve", api.resolve, "--ca-file", api.ca,
                 "--max-attempts", "1", *args, env={"CACHEKIT_API_KEY": "ck_sdk_test"})


def stats(c):
    return {s.name: s.value for s in c.call(stats=pb().StatsRequest()).stats.stats}


def test_a_failing_api_is_answered_with_the_value_marked_stale(api):
    api.reset()
    with agent_for(api) as a, RawClient(a.endpoint, 5000) as c:
        assert c.call(set=pb().SetRequest(key="s1", value=b"kept", ttl_s=60,
                                          stale_ttl_s=600)).status == 0
        assert c.call(set=pb().SetRequest(key="gone", value=b"x", ttl_s=60,
                                          stale_ttl_s=600)).status == 0
        assert c.call(delete=pb().DeleteRequest(key="gone")).status == 0
        api.faults(fail_next=[503, 503, 503])
        try:
            r = c.call(get=pb().GetRequest(key="s1"))
            assert r.status == 0 and r.get.found and r.get.value == b"kept"
            assert r.get.freshness == STALE
            r = c.call(get=pb().GetRequest(key="gone"))
            assert r.status == CK_EUPSTREAM  # deleted: nothing to fall back on
            r = c.call(get=pb().GetRequest(key="never-seen"))
            assert r.status == CK_EUPSTREAM
        finally:
            api.faults(fail_next=[])
        assert stats(c)["stale_if_error_total"] == 1
        # The API is back: the real answer again, fresh.
        r = c.call(get=pb().GetRequest(key="s1"))
        assert r.status == 0 and r.get.value == b"kept" and r.get.freshness != STALE


def test_an_open_breaker_is_answered_stale(api):
    api.reset()
    with agent_for(api, "--breaker-failures", "1", "--breaker-open", "3600") as a, \
            RawClient(a.endpoint, 5000) as c:
        assert c.call(set=pb().SetRequest(key="b1", value=b"v", ttl_s=60,
                                          stale_ttl_s=60)).status == 0
        api.faults(fail_next=[503])
        try:
            assert c.call(get=pb().GetRequest(key="b1")).get.freshness == STALE  # the 503
        finally:
            api.faults(fail_next=[])
        assert stats(c)["breaker_state"] == 1
        r = c.call(get=pb().GetRequest(key="b1"))  # failed fast by the breaker
        assert r.status == 0 and r.get.value == b"v" and r.get.freshness == STALE


def test_size_zero_turns_it_off(api):
    api.reset()
    with agent_for(api, "--stale-if-error-size", "0") as a, RawClient(a.endpoint, 5000) as c:
        assert c.call(set=pb().SetRequest(key="off", value=b"v", ttl_s=60,
                                          stale_ttl_s=600)).status == 0
        api.faults(fail_next=[503])
        try:
            assert c.call(get=pb().GetRequest(key="off")).status == CK_EUPSTREAM
        finally:
            api.faults(fail_next=[])


def test_a_namespace_can_turn_it_off(api):
    """stale-if-error-off-namespaces: that namespace gets the error while another namespace,
    failing the same way, still gets its stale copy."""
    api.reset()
    with agent_for(api, "--stale-if-error-off-namespaces", "strict,nocopy*") as a, \
            RawClient(a.endpoint, 5000) as c:
        for ns in ("strict", "lenient", "nocopy-2"):
            assert c.call(namespace=ns, set=pb().SetRequest(
                key="k", value=ns.encode(), ttl_s=60, stale_ttl_s=600)).status == 0
        api.faults(fail_next=[503, 503, 503])
        try:
            r = c.call(namespace="lenient", get=pb().GetRequest(key="k"))
            assert r.status == 0 and r.get.value == b"lenient" and r.get.freshness == STALE
            assert c.call(namespace="strict", get=pb().GetRequest(key="k")).status == CK_EUPSTREAM
            assert c.call(namespace="nocopy-2",
                          get=pb().GetRequest(key="k")).status == CK_EUPSTREAM
        finally:
            api.faults(fail_next=[])
        assert stats(c)["stale_if_error_total"] == 1
        # The API is back: the strict namespace reads its value again.
        r = c.call(namespace="strict", get=pb().GetRequest(key="k"))
        assert r.status == 0 and r.get.value == b"strict" and r.get.freshness != STALE


def test_the_namespace_list_is_reloaded_by_sighup(api):
    import signal
    import time
    api.reset()
    a = agent_for(api)
    conf = os.path.join(a.dir, "agent.ini")
    with open(conf, "w", encoding="utf-8") as f:
        f.write("log-level = info\n")
    a.args += ["--config", conf]
    with a, RawClient(a.endpoint, 5000) as c:
        assert c.call(namespace="late", set=pb().SetRequest(
            key="k", value=b"v", ttl_s=60, stale_ttl_s=600)).status == 0
        with open(conf, "w", encoding="utf-8") as f:
            f.write("log-level = info\nstale-if-error-off-namespaces = late\n")
        a.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        while "reload: stale-if-error-off-namespaces applied" not in a.read_log():
            assert time.monotonic() < deadline, a.read_log()
            time.sleep(0.02)
        api.faults(fail_next=[503])
        try:
            assert c.call(namespace="late", get=pb().GetRequest(key="k")).status == CK_EUPSTREAM
        finally:
            api.faults(fail_next=[])

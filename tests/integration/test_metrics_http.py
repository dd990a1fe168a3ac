# SPDX-License-Identifier: Apache-2.0
"""GET /metrics (--metrics-listen): the Prometheus text parses with prometheus_client's own
parser, counters move with the requests made, histograms are consistent, and the endpoint
keeps answering while the agent drains."""
import re
import signal
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fakeapi"))
from fakeapi import FakeApi  # noqa: E402
from harness import Agent, RawClient, pb  # noqa: E402

DEADLINE = 30.0
ESHUTDOWN = 21


def scrape(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=DEADLINE) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = r.read().decode()
    samples = {}
    families = {}
    for fam in text_string_to_metric_families(text):
        families[fam.name] = fam
        for s in fam.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return families, samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def port_of(agent):
    m = re.search(r"metrics: serving GET /metrics on \S+ \(port (\d+)\)", agent.read_log())
    assert m, agent.read_log()
    return int(m.group(1))


@pytest.fixture
def agent():
    with Agent("--metrics-listen", "127.0.0.1:0") as a:
        yield a


def test_counters_and_histograms_move(agent):
    port = port_of(agent)
    fams, before = scrape(port)
    assert fams["cachekit_agent_requests"].type == "counter"
    assert fams["cachekit_agent_request_duration_seconds"].type == "histogram"
    assert fams["cachekit_agent_locks_held"].type == "gauge"
    with RawClient(agent.endpoint) as c:
        for i in range(3):
            assert c.call(set=pb().SetRequest(key=f"k{i}", value=b"v")).status == 0
        assert c.call(get=pb().GetRequest(key="k0")).status == 0
        assert c.call(get=pb().GetRequest(key="absent")).status == 0
        assert c.call(get=pb().GetRequest(key="")).status != 0  # invalid key
    _, after = scrape(port)
    key = "cachekit_agent_requests_total"
    assert value(after, key, op="set", status="ok") - value(before, key, op="set", status="ok") == 3
    assert value(after, key, op="get", status="ok") - value(before, key, op="get", status="ok") == 2
    assert value(after, key, op="get", status="einvalkey") == 1
    assert value(after, "cachekit_agent_get_hits_total") - value(before, "cachekit_agent_get_hits_total") == 1
    assert value(after, "cachekit_agent_get_misses_total") - value(before, "cachekit_agent_get_misses_total") == 1
    assert value(after, "cachekit_agent_store_entries") == 3
    h = "cachekit_agent_request_duration_seconds"
    count = value(after, h + "_count", op="set")
    assert count == 3
    assert value(after, h + "_bucket", op="set", le="+Inf") == count
    bounds = sorted(float(lbl[1]) for (n, labels) in after for lbl in labels
                    if n == h + "_bucket" and lbl[0] == "le" and lbl[1] != "+Inf"
                    and ("op", "set") in labels)
    cum = [value(after, h + "_bucket", op="set", le=_fmt(b)) for b in bounds]
    assert cum == sorted(cum) and cum[-1] <= count
    assert value(after, h + "_sum", op="set") > 0


def test_stub_near_cache_figures_move(agent):
    """Near-cache reports piggybacked on requests (Request.near) add up in the stub_near_*
    counters; an absurd report is capped, never wrapped."""
    port = port_of(agent)
    fams, before = scrape(port)
    for name in ("stub_near_hits", "stub_near_misses", "stub_near_invalidations"):
        assert fams["cachekit_agent_" + name].type == "counter"
        assert fams["cachekit_agent_" + name].documentation
    with RawClient(agent.endpoint) as c:
        near = pb().NearStats(hits=5, misses=2, invalidations=1)
        assert c.call(get=pb().GetRequest(key="n1"), near=near).status == 0
        near = pb().NearStats(hits=3)
        assert c.call(exists=pb().ExistsRequest(key="n1"), near=near).status == 0
        assert c.call(get=pb().GetRequest(key="n1")).status == 0  # no report: nothing moves
    _, after = scrape(port)

    def moved(name):
        name = "cachekit_agent_" + name
        return value(after, name) - value(before, name)

    assert moved("stub_near_hits_total") == 8
    assert moved("stub_near_misses_total") == 2
    assert moved("stub_near_invalidations_total") == 1
    assert moved("stub_near_reports_total") == 2
    with RawClient(agent.endpoint) as c:
        near = pb().NearStats(hits=2**64 - 1)
        assert c.call(get=pb().GetRequest(key="n1"), near=near).status == 0
    _, capped = scrape(port)
    assert value(capped, "cachekit_agent_stub_near_hits_total") - \
        value(after, "cachekit_agent_stub_near_hits_total") == 10_000_000


def _fmt(b):
    return "%.9g" % b


def test_other_paths_and_methods(agent):
    port = port_of(agent)
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/nope", timeout=DEADLINE)
    assert e.value.code == 404
    req = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", data=b"", method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=DEADLINE)
    assert e.value.code == 405


def test_answers_while_draining():
    """The drain is held open by an upstream Get the fake API stalls (a lock waiter would not
    do: the drain answers waiters CK_ESHUTDOWN at once and then ends in one tick). It lasts
    until the agent gives up on that Get (10 s), far longer than the two calls it takes."""
    with FakeApi() as api:
        api.faults(stall_ms=120000)
        a = Agent("--upstream", api.url, "--resolve", api.resolve, "--ca-file", api.ca,
                  "--metrics-listen", "127.0.0.1:0", env={"CACHEKIT_API_KEY": "ck_sdk_test"})
        with a, RawClient(a.endpoint, timeout_ms=60000) as held, RawClient(a.endpoint) as c:
            port = port_of(a)
            req = pb().Request(id=99, deadline_ms=60000, get=pb().GetRequest(key="held"))
            held.sock.send(req.SerializeToString())
            deadline = time.monotonic() + DEADLINE
            while value(scrape(port)[1], "cachekit_agent_inflight_requests") < 1:
                assert time.monotonic() < deadline, "the Get never showed as in flight"
                time.sleep(0.02)
            a.send_signal(signal.SIGTERM)
            while value(scrape(port)[1], "cachekit_agent_draining") != 1:
                assert time.monotonic() < deadline, "draining never showed"
                time.sleep(0.02)
            assert c.call(get=pb().GetRequest(key="k")).status == ESHUTDOWN
            _, during = scrape(port)
            assert value(during, "cachekit_agent_shutdown_refused_total") >= 1
            assert value(during, "cachekit_agent_draining") == 1
            assert a.proc.poll() is None  # still draining, still scraped
            assert a.proc.wait(DEADLINE) == 0


def test_bad_listen_address_is_a_config_error():
    a = Agent("--metrics-listen", "not an address")
    a.start(wait=False)
    try:
        assert a.proc.wait(DEADLINE) == 2
        assert "metrics-listen must be HOST:PORT" in a.read_log()
    finally:
        a.__exit__(None, None, None)

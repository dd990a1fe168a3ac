# SPDX-License-Identifier: Apache-2.0
"""SIGHUP re-reads the configuration file: live settings (log level, limits, namespace rules)
apply at once, settings that need a restart are named in the log and keep their running value,
a broken file changes nothing, and neither connected clients nor requests in flight notice."""
import os
import signal
import time

import pytest

from harness import Agent, RawClient, pb

DEADLINE = 30.0
CK_EDENIED = 13


def wait_log(agent, text, count=1):
    deadline = time.monotonic() + DEADLINE
    while agent.read_log().count(text) < count:
        assert time.monotonic() < deadline, f"no {text!r} in log:\n{agent.read_log()}"
        assert agent.proc.poll() is None, agent.read_log()
        time.sleep(0.02)


@pytest.fixture
def setup():
    a = Agent()
    conf = os.path.join(a.dir, "agent.ini")
    with open(conf, "w", encoding="utf-8") as f:
        f.write("log-level = info\nl1-size = 0\n")
    a.args += ["--config", conf]
    a.start()
    yield a, conf
    a.__exit__(None, None, None)


def test_reload_applies_live_settings_and_names_the_rest(setup):
    a, conf = setup
    with RawClient(a.endpoint, timeout_ms=30000) as c, RawClient(a.endpoint, 30000) as waiter:
        assert c.call(namespace="pay", set=pb().SetRequest(key="k", value=b"v")).status == 0
        # A request in flight across the reload: a lock waiter.
        held = c.call(acquire_lock=pb().AcquireLockRequest(name="L", lease_ms=60000))
        assert held.acquire_lock.acquired
        req = pb().Request(id=7, deadline_ms=30000, acquire_lock=pb().AcquireLockRequest(
            name="L", lease_ms=60000, wait_ms=25000))
        waiter.sock.send(req.SerializeToString())

        with open(conf, "w", encoding="utf-8") as f:
            f.write("log-level = debug\nl1-size = 1048576\nsecure-namespaces = pay\n"
                    "max-inflight = 100\n")
        a.send_signal(signal.SIGHUP)
        wait_log(a, "reload: done")
        log = a.read_log()
        for name in ("log-level", "secure-namespaces", "max-inflight"):
            assert f"reload: {name} applied" in log
        assert "reload: l1-size changed but applies only at restart" in log
        assert "2 setting(s) applied" not in log and "3 setting(s) applied, 1 need a restart" in log

        # The namespace rule is live on the same connection.
        r = c.call(namespace="pay", set=pb().SetRequest(key="k", value=b"v"))
        assert r.status == CK_EDENIED and "requires secure intent" in r.message
        # The waiter, in flight during the reload, still gets the lock once it is free.
        rel = c.call(release_lock=pb().ReleaseLockRequest(handle=held.acquire_lock.handle))
        assert rel.release_lock.released
        got = waiter.recv(30000)
        assert got.id == 7 and got.status == 0 and got.acquire_lock.acquired


def test_broken_file_changes_nothing(setup):
    a, conf = setup
    with open(conf, "w", encoding="utf-8") as f:
        f.write("secure-namespaces = pay\nmax-inflight = lots\n")
    a.send_signal(signal.SIGHUP)
    wait_log(a, "reload: configuration has errors; keeping the running one")
    with RawClient(a.endpoint) as c:
        assert c.call(namespace="pay", set=pb().SetRequest(key="k", value=b"v")).status == 0
    assert "secure-namespaces applied" not in a.read_log()

# SPDX-License-Identifier: Apache-2.0
"""The agent as a process: single instance, bad frames, limits, access control, signals,
configuration sources, TTL and lease expiry on the embedded store. Everything goes through
a real ipc:// socket to a real agent process."""
import os
import signal
import stat
import subprocess
import sys
import tempfile
import time

import pytest
import zmq

sys.path.insert(0, os.path.dirname(__file__))
from harness import AGENT, Agent, RawClient, pb, stats_of, wait_until  # noqa: E402

CK_OK, CK_EINVAL, CK_EINVALKEY, CK_ETOOBIG, CK_EPROTO = 0, 1, 2, 3, 6
CK_EDENIED, CK_EBADHANDLE, CK_ENOKEY, CK_ECONFLICT, CK_ESHUTDOWN = 13, 16, 18, 19, 21

pytestmark = pytest.mark.skipif(not AGENT, reason="CK_AGENT_BIN not set")


@pytest.fixture
def agent():
    with Agent() as a:
        yield a


@pytest.fixture
def client(agent):
    with RawClient(agent.endpoint) as c:
        yield c


def test_set_get_round_trip_is_binary_safe(client):
    value = bytes(range(256)) * 4
    assert client.call(set=pb().SetRequest(key="bin", value=value)).status == CK_OK
    r = client.call(get=pb().GetRequest(key="bin"))
    assert r.status == CK_OK and r.get.found and r.get.value == value


def test_namespace_prefixes_storage_key(client):
    assert client.call(namespace="app", set=pb().SetRequest(key="k", value=b"v")).status == 0
    assert client.call(get=pb().GetRequest(key="ns:app:k")).get.value == b"v"
    assert not client.call(get=pb().GetRequest(key="k")).get.found
    r = client.call(namespace="bad ns", get=pb().GetRequest(key="k"))
    assert r.status == CK_EINVALKEY


def test_invalid_keys_are_refused_with_a_reason(client):
    for key in ["", "a b", "..", "health", "x" * 401, "a..b", "caf\u00e9"]:
        r = client.call(set=pb().SetRequest(key=key, value=b"v"))
        assert r.status == CK_EINVALKEY, key
        assert "invalid cache key" in r.message


def test_second_agent_on_same_endpoint_is_refused(agent):
    second = subprocess.run([AGENT, "--endpoint", agent.endpoint], capture_output=True,
                            timeout=10)
    assert second.returncode == 3
    assert b"already serves" in second.stderr
    assert str(agent.proc.pid).encode() in second.stderr
    with RawClient(agent.endpoint) as c:  # the first one still serves
        assert c.call(health=pb().HealthRequest()).health.healthy


def test_socket_directory_is_private(agent):
    path = agent.endpoint[len("ipc://"):]
    mode = stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode)
    assert mode == 0o700
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o660


def test_malformed_frame_gets_error_and_agent_keeps_serving(agent, client):
    client.send_raw([b"\x08\x2a\xff\xff\xff"])  # id 42 then garbage
    r = client.recv()
    assert r.status == CK_EPROTO and r.id == 42
    client.send_raw([b"\x08\x07"])  # a valid Request with no operation
    r = client.recv()
    assert r.status == CK_EPROTO and "no operation" in r.message
    client.send_raw([b"\x08\x09", b"second part"])
    r = client.recv()
    assert r.status == CK_EPROTO and r.id == 9
    assert client.call(health=pb().HealthRequest()).health.healthy
    assert "malformed request" in agent.read_log()


def test_oversized_value_is_refused_without_processing():
    with Agent("--max-value-size", "1000") as a, RawClient(a.endpoint) as c:
        r = c.call(set=pb().SetRequest(key="big", value=b"x" * 1001))
        assert r.status == CK_ETOOBIG and "1001" in r.message
        r = c.call(set=pb().SetRequest(key="big", value=b"x" * 200_000))  # beyond frame cap
        assert r.status == CK_ETOOBIG and "exceeds the agent's limit" in r.message
        assert not c.call(get=pb().GetRequest(key="big")).get.found
        assert c.call(set=pb().SetRequest(key="big", value=b"x" * 1000)).status == CK_OK


def test_frame_beyond_hard_cap_drops_only_that_peer():
    with Agent("--max-value-size", "1000") as a:
        with RawClient(a.endpoint, timeout_ms=500) as bad:
            bad.send_raw([b"\x08\x01" + b"x" * (3 << 20)])
            with pytest.raises(TimeoutError):
                bad.recv(500)
        with RawClient(a.endpoint) as good:
            assert good.call(health=pb().HealthRequest()).health.healthy


def test_ttl_expiry_and_stale_window(client):
    # A stale window of 4 s leaves a busy machine time for the stale-phase calls below.
    assert client.call(set=pb().SetRequest(key="t", value=b"v", ttl_s=1, stale_ttl_s=4)).status == 0
    r = client.call(get=pb().GetRequest(key="t"))
    assert r.get.freshness == pb().FRESHNESS_FRESH and 0 < r.get.fresh_for_ms <= 1000
    assert client.call(get_ttl=pb().GetTtlRequest(key="t")).get_ttl.ttl_s == 5
    time.sleep(1.2)  # past the TTL (a lower bound: more time only moves it further)
    r = client.call(get=pb().GetRequest(key="t"))
    assert r.get.found and r.get.freshness == pb().FRESHNESS_STALE and r.get.fresh_for_ms == 0
    assert client.call(exists=pb().ExistsRequest(key="t")).exists.exists
    r = client.call(refresh_ttl=pb().RefreshTtlRequest(key="t", ttl_s=5))
    assert r.status == CK_ECONFLICT
    wait_until(lambda: not client.call(get=pb().GetRequest(key="t")).get.found,
               what="the entry to leave its stale window")
    assert not client.call(get_ttl=pb().GetTtlRequest(key="t")).get_ttl.found


def test_ttl_bounds_are_enforced(client):
    r = client.call(set=pb().SetRequest(key="k", value=b"v", stale_ttl_s=5))
    assert r.status == CK_EINVAL
    r = client.call(set=pb().SetRequest(key="k", value=b"v", ttl_s=2_592_001))
    assert r.status == CK_EINVAL
    r = client.call(refresh_ttl=pb().RefreshTtlRequest(key="k", ttl_s=0))
    assert r.status == CK_EINVAL


def test_refresh_ttl_and_delete(client):
    client.call(set=pb().SetRequest(key="r", value=b"v"))
    # No TTL named: the agent's default-ttl (3600 s), never "no expiry" (PRE-4).
    assert client.call(get_ttl=pb().GetTtlRequest(key="r")).get_ttl.ttl_s in (3599, 3600)
    assert client.call(refresh_ttl=pb().RefreshTtlRequest(key="r", ttl_s=100)).refresh_ttl.refreshed
    assert client.call(get_ttl=pb().GetTtlRequest(key="r")).get_ttl.ttl_s == 100
    assert not client.call(refresh_ttl=pb().RefreshTtlRequest(key="nope", ttl_s=9)).refresh_ttl.refreshed
    assert client.call(delete=pb().DeleteRequest(key="r")).delete.existed
    assert not client.call(delete=pb().DeleteRequest(key="r")).delete.existed


def test_lock_lease_expires(client):
    # A lease of 3 s: long enough that the second try surely comes while it holds.
    a = client.call(acquire_lock=pb().AcquireLockRequest(name="L", lease_ms=3000))
    assert a.acquire_lock.acquired and len(a.acquire_lock.handle) == 16
    b = client.call(acquire_lock=pb().AcquireLockRequest(name="L", lease_ms=300))
    assert b.status == 0 and not b.acquire_lock.acquired
    t0 = time.monotonic()
    c = client.call(deadline_ms=60000,
                    acquire_lock=pb().AcquireLockRequest(name="L", lease_ms=30000, wait_ms=50000))
    assert c.acquire_lock.acquired
    assert time.monotonic() - t0 < 40  # granted at lease expiry (3 s), not at the wait's end
    r = client.call(release_lock=pb().ReleaseLockRequest(handle=a.acquire_lock.handle))
    assert r.status == CK_EBADHANDLE  # expired
    assert client.call(release_lock=pb().ReleaseLockRequest(handle=c.acquire_lock.handle)).release_lock.released


HOLDER = r"""
import os, sys, time
sys.path[:0] = [sys.argv[2], sys.argv[3]]
from harness import RawClient, pb
c = RawClient(sys.argv[1])
r = c.call(acquire_lock=pb().AcquireLockRequest(name="dead", lease_ms=90000))
assert r.acquire_lock.acquired
print(r.acquire_lock.handle.hex(), flush=True)
time.sleep(120)
"""


def _spawn_holder(agent):
    pp = os.environ.get("PYTHONPATH", "")
    p = subprocess.Popen([sys.executable, "-c", HOLDER, agent.endpoint,
                          os.path.dirname(__file__), pp], stdout=subprocess.PIPE)
    handle = bytes.fromhex(p.stdout.readline().decode().strip())
    return p, handle


def test_lock_released_when_holder_is_killed(agent, client):
    p, _ = _spawn_holder(agent)
    r = client.call(acquire_lock=pb().AcquireLockRequest(name="dead", lease_ms=1000))
    assert not r.acquire_lock.acquired
    t0 = time.monotonic()
    p.kill()
    p.wait()
    r = client.call(deadline_ms=59000,
                    acquire_lock=pb().AcquireLockRequest(name="dead", lease_ms=1000, wait_ms=58000))
    elapsed = time.monotonic() - t0
    assert r.acquire_lock.acquired
    # Well before the 90 s lease: the agent saw the holder die.
    assert elapsed < 40, f"waiter got the lock after {elapsed:.3f}s; lease was 90s"
    assert "exited: releasing its locks" in agent.read_log()


def test_handle_from_another_process_is_refused(agent, client):
    p, handle = _spawn_holder(agent)
    try:
        r = client.call(release_lock=pb().ReleaseLockRequest(handle=handle))
        assert r.status == CK_EBADHANDLE and "another process" in r.message
        r = client.call(release_lock=pb().ReleaseLockRequest(handle=b"\x00" * 16))
        assert r.status == CK_EBADHANDLE
    finally:
        p.kill()
        p.wait()


def test_secure_intent_without_master_key_fails_closed(client):
    r = client.call(set=pb().SetRequest(key="s", value=b"secret", secure=True))
    assert r.status == CK_ENOKEY
    assert not client.call(get=pb().GetRequest(key="s")).get.found


def test_secure_namespaces_without_master_key_fail_at_start_up():
    """PRE-20, PRE-50: configured secure intent without its key fails before serving."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CACHEKIT_MASTER_KEY")}
    env.pop("CREDENTIALS_DIRECTORY", None)
    out = subprocess.run([AGENT, "--check-config", "--secure-namespaces", "vault"],
                         capture_output=True, text=True, env=env, timeout=30)
    assert out.returncode == 2
    assert "secure-namespaces = vault needs a master key" in out.stderr
    with tempfile.TemporaryDirectory() as d:
        out = subprocess.run([AGENT, "--endpoint", f"ipc://{d}/a.sock", "--secure-namespaces",
                              "vault"], capture_output=True, text=True, env=env, timeout=30)
        assert out.returncode == 2 and "needs a master key" in out.stderr
        assert not os.path.exists(os.path.join(d, "a.sock"))
    # Without secure namespaces the agent starts, and says secure calls will be refused.
    out = subprocess.run([AGENT, "--check-config"], capture_output=True, text=True, env=env,
                         timeout=30)
    assert out.returncode == 0 and "no master key" in out.stderr


def test_sigterm_drains_requests_in_flight(agent):
    with RawClient(agent.endpoint) as holder, RawClient(agent.endpoint, 5000) as waiter:
        assert holder.call(acquire_lock=pb().AcquireLockRequest(name="d", lease_ms=30000)).acquire_lock.acquired
        # The wait (6 s) outlasts the probe below and ends inside the agent's 10 s drain.
        req = pb().Request(id=77, deadline_ms=60000,
                           acquire_lock=pb().AcquireLockRequest(name="d", wait_ms=6000))
        waiter.sock.send(req.SerializeToString())
        with RawClient(agent.endpoint) as probe:  # the acquire and this Stats call
            wait_until(lambda: stats_of(probe)["inflight_requests"] >= 2,
                       what="the acquire to wait inside the agent")
        agent.send_signal(signal.SIGTERM)
        r = waiter.recv(30000)
        # A waiter cannot get the lock during the drain (its holder can send nothing more),
        # so it is answered at once instead of holding the drain open.
        assert r.id == 77 and r.status == 21 and not r.acquire_lock.acquired
        assert agent.proc.wait(30) == 0
    log = agent.read_log()
    assert "draining 1 requests" in log and "stopped" in log
    assert not os.path.exists(agent.endpoint[len("ipc://"):])


def test_agent_refuses_peers_outside_allow_lists():
    with Agent("--allow-uids", "54321") as a, RawClient(a.endpoint) as c:
        r = c.call(get=pb().GetRequest(key="k"))
        assert r.status == CK_EDENIED
    with Agent("--allow-uids", str(os.getuid())) as a, RawClient(a.endpoint) as c:
        assert c.call(get=pb().GetRequest(key="k")).status == CK_OK


def test_help_version_and_bad_config():
    out = subprocess.run([AGENT, "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "CACHEKIT_TIMEOUT" in out.stdout and "--upstream" in out.stdout
    out = subprocess.run([AGENT, "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("cachekit-agent ")
    out = subprocess.run([AGENT, "--bogus"], capture_output=True, text=True)
    assert out.returncode == 2 and "unknown option" in out.stderr
    out = subprocess.run([AGENT, "--timeout", "-1"], capture_output=True, text=True)
    assert out.returncode == 2 and "timeout" in out.stderr
    env = dict(os.environ, CACHEKIT_CONNECTION_POOL_SIZE="lots")
    out = subprocess.run([AGENT, "--check-config"], capture_output=True, text=True, env=env)
    assert out.returncode == 2 and "CACHEKIT_CONNECTION_POOL_SIZE" in out.stderr


def test_config_sources_in_priority_order():
    with tempfile.TemporaryDirectory() as d:
        ini = os.path.join(d, "agent.ini")
        with open(ini, "w") as f:
            f.write("[agent]\ntimeout = 2\npool-size = 4\nmemory_limit = 2000000\n")
        env = dict(os.environ, CACHEKIT_CONNECTION_POOL_SIZE="7")
        out = subprocess.run([AGENT, "--config", ini, "--check-config", "--memory-limit",
                              "3000000"], capture_output=True, text=True, env=env)
        assert out.returncode == 0, out.stderr
        lines = dict(line.split(" = ", 1) for line in out.stdout.splitlines() if " = " in line)
        assert lines["timeout"] == "2.000"        # file
        assert lines["pool-size"] == "7"          # env beats file
        assert lines["memory-limit"] == "3000000"  # flag beats file
        with open(ini, "a") as f:
            f.write("nonsense = 1\n")
        out = subprocess.run([AGENT, "--config", ini, "--check-config"], capture_output=True,
                             text=True)
        assert out.returncode == 2 and 'unknown setting "nonsense"' in out.stderr


def test_memory_limit_bounds_the_embedded_store():
    with Agent("--memory-limit", "1048576") as a, RawClient(a.endpoint) as c:
        for i in range(40):
            assert c.call(set=pb().SetRequest(key=f"k{i}", value=b"x" * 100_000)).status == 0
        stats = {s.name: s.value for s in c.call(stats=pb().StatsRequest()).stats.stats}
        assert stats["store_bytes"] <= 1048576
        assert stats["store_evictions"] >= 30
        assert c.call(get=pb().GetRequest(key="k39")).get.found
        assert not c.call(get=pb().GetRequest(key="k0")).get.found


def test_agent_restart_mid_stream_recovers(agent):
    with RawClient(agent.endpoint, timeout_ms=3000) as c:
        assert c.call(set=pb().SetRequest(key="a", value=b"1")).status == 0
        agent.stop(signal.SIGKILL)
        agent.start()
        # Same socket, no reconnect by hand: ZeroMQ reconnects; the embedded store is empty.
        r = c.call(get=pb().GetRequest(key="a"))
        assert r.status == 0 and not r.get.found


def test_nul_bytes_in_keys_are_refused_not_truncated(client):
    r = client.call(set=pb().SetRequest(key="a\x00b", value=b"v"))
    assert r.status == CK_EINVALKEY and "NUL" in r.message
    assert not client.call(get=pb().GetRequest(key="a")).get.found  # nothing stored as "a"
    r = client.call(namespace="n\x00s", get=pb().GetRequest(key="k"))
    assert r.status == CK_EINVALKEY
    r = client.call(set=pb().SetRequest(key="k", value=b"v", format="msg\x00pack"))
    assert r.status == CK_EPROTO


def test_requests_beyond_max_inflight_are_refused_not_queued():
    CK_EOVERLOAD = 27
    with Agent("--max-inflight", "1") as a, RawClient(a.endpoint) as holder, \
            RawClient(a.endpoint, 5000) as waiter, RawClient(a.endpoint) as other:
        assert holder.call(acquire_lock=pb().AcquireLockRequest(name="o", lease_ms=30000)).acquire_lock.acquired
        # The waiter's acquire stays in progress inside the agent for 3 s; meanwhile a Get
        # from another peer must be refused. A probe Get that was itself in progress when the
        # acquire arrived gets the acquire refused instead: then the round starts again.
        refused, rid = None, 5
        give_up = time.monotonic() + 60
        while refused is None:
            assert time.monotonic() < give_up, "never saw a request refused as overload"
            rid += 1
            waiter.sock.send(pb().Request(id=rid, deadline_ms=10000, acquire_lock=pb().AcquireLockRequest(
                name="o", wait_ms=3000)).SerializeToString())
            while refused is None and not waiter.sock.poll(0):
                r = other.call(get=pb().GetRequest(key="k"))
                if r.status == CK_EOVERLOAD:
                    refused = r
            if refused is None:
                waiter.recv(30000)  # answered before a probe met it: another round
        assert "1 requests" in refused.message
        r = waiter.recv(30000)  # the one in progress still gets its answer
        assert r.id == rid and r.status == 0 and not r.acquire_lock.acquired
        assert other.call(get=pb().GetRequest(key="k")).status == 0

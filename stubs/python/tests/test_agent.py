# SPDX-License-Identifier: Apache-2.0
"""cachekit_stub against the real agent (CK_AGENT_BIN, upstream memory:): every operation,
TTLs, locks, secure values, health, stats, namespaces, the decorator, AgentBackend, fork and
an agent restart. Skipped, with the reason, when CK_AGENT_BIN is unset."""

import asyncio
import os
import tempfile
import shutil
import threading

import pytest

import cachekit_stub
from cachekit_stub import AgentBackend, AsyncClient, Client, cached
from cachekit_stub.decorator import decode_value, encode_value
from cachekit_stub.keys import interop_key

from conftest import RealAgent, agent_binary
from test_client_fake import run_in_child


@pytest.fixture
def c(agent):
    client = Client(agent.endpoint, timeout=30.0)
    yield client
    client.close()


@pytest.fixture
def key(request):
    # A fresh key per test: the module shares one agent.
    return "py." + request.node.name.replace("[", ".").replace("]", "").replace("-", "_")[:150]


def test_health(agent, c):
    h = c.health()
    assert h["healthy"] is True
    if agent.backend == "memory":
        assert h["backend_type"] == "memory" and h["api_url"] == "memory:"
    else:
        assert h["backend_type"] == "cachekitio" and h["api_url"].startswith("https://")
    assert h["agent_version"]


def test_set_get_exists_delete(c, key):
    value = bytes(range(256)) * 3  # binary safe
    assert c.get(key) is None
    assert c.exists(key) is False
    c.set(key, value)
    assert c.get(key) == value
    assert c.exists(key) is True
    assert c.delete(key) is True
    assert c.delete(key) is False
    assert c.get(key) is None


def test_empty_value(c, key):
    c.set(key, b"")
    assert c.get(key) == b""
    assert c.exists(key) is True


def test_get_entry(c, key):
    c.set(key, b"v", ttl=100)
    e = c.get_entry(key)
    assert e.value == b"v"
    assert e.freshness in ("fresh", "unknown")
    assert e.fresh_for_ms is None or 0 < e.fresh_for_ms <= 100_000
    assert c.get_entry(key + ".missing") is None


def test_ttl(c, key):
    c.set(key, b"v", ttl=100)
    assert 1 <= c.get_ttl(key) <= 100
    c.set(key, b"v")
    assert 3590 <= c.get_ttl(key) <= 3600  # no TTL named: the agent's default-ttl (PRE-4)
    c.set(key, b"v", ttl=0.2)
    assert c.get_ttl(key) == 1  # a fraction of a second rounds up, never down to 0 (API-42)
    assert c.get_ttl(key + ".missing") is None


def test_stale_window_counts_in_ttl(c, key):
    c.set(key, b"v", ttl=100, stale_ttl=50)
    assert 100 < c.get_ttl(key) <= 150


def test_refresh_ttl(agent, c, key):
    c.set(key, b"v", ttl=10)
    assert c.refresh_ttl(key, 500) is True
    assert 10 < c.get_ttl(key) <= 500
    # The API answers 200 to a TTL PATCH of an absent key (spec §2.5), so only the embedded
    # store can say "absent"; over the API the answer is True, as with cachekit-py.
    assert c.refresh_ttl(key + ".missing", 500) is (agent.backend != "memory")


def test_invalid_keys(c):
    for bad in ("health", "has space", "a" * 401, "dot..dot", ""):
        with pytest.raises(cachekit_stub.InvalidKey):
            c.set(bad, b"v")


def test_invalid_ttl_from_agent(c, key):
    with pytest.raises(cachekit_stub.InvalidArgument):
        c.set(key, b"v", ttl=0, stale_ttl=10)  # a stale window needs a ttl


def test_namespaces_separate_keys(agent, c, key):
    c.set(key, b"plain")
    c.set(key, b"scoped", namespace="tenant-a")
    assert c.get(key) == b"plain"
    assert c.get(key, namespace="tenant-a") == b"scoped"
    scoped = Client(agent.endpoint, namespace="tenant-a")
    try:
        assert scoped.get(key) == b"scoped"
        assert scoped.get(key, namespace="") == b"plain"
    finally:
        scoped.close()


def test_locks(c, key):
    h = c.acquire_lock(key, lease=30)
    assert h is not None and h.handle and h.lease_ms == 30000
    assert c.acquire_lock(key) is None  # contested, one attempt
    assert c.release_lock(h) is True
    assert c.release_lock(h) is False  # already released
    h2 = c.acquire_lock(key, lease=5)
    assert h2 is not None and h2.handle != h.handle
    assert c.release_lock(h2.hex) is True


def test_renew_lock(agent, c, key):
    h = c.acquire_lock(key, lease=5)
    assert h is not None
    if agent.backend != "memory":
        # The cachekit.io API has no lock renewal: refused, nothing sent, the lock kept.
        with pytest.raises(cachekit_stub.NotSupported, match="no lock renewal"):
            c.renew_lock(h, lease=60)
        assert c.release_lock(h) is True
        return
    assert c.renew_lock(h, lease=60) is True
    assert c.renew_lock(h.hex) is True  # hex id, default lease
    assert c.acquire_lock(key) is None  # still held
    assert c.release_lock(h) is True
    assert c.renew_lock(h) is False  # released: nothing to renew
    assert c.renew_lock(b"\x00" * 16) is False  # never granted


async def _renew_async(endpoint, key):
    async with AsyncClient(endpoint, timeout=30.0) as a:
        h = await a.acquire_lock(key, lease=5)
        assert await a.renew_lock(h, lease=60) is True
        assert await a.release_lock(h) is True
        assert await a.renew_lock(h) is False


def test_renew_lock_async(agent, key):
    if agent.backend != "memory":
        pytest.skip("the cachekit.io API has no lock renewal (test_renew_lock covers it)")
    asyncio.run(_renew_async(agent.endpoint, key))


def test_lock_context_manager(c, key):
    with c.lock(key) as h:
        assert h.handle
        with pytest.raises(cachekit_stub.LockContested):
            with c.lock(key, wait=0.05):
                pass
    assert c.release_lock(h) is False  # released on exit
    assert c.acquire_lock(key) is not None


def test_lock_wait_gets_a_released_lock(c, key):
    h = c.acquire_lock(key)
    releaser = threading.Timer(0.1, lambda: c.release_lock(h))
    releaser.start()
    try:
        got = c.acquire_lock(key, wait=10.0)
    finally:
        releaser.join()
    assert got is not None
    assert c.release_lock(got) is True


def test_secure_round_trip(c, key):
    c.set(key, b"secret value", secure=True)
    assert c.get(key, secure=True) == b"secret value"


def test_secure_value_is_stored_sealed(c, key):
    c.set(key, b"secret value", secure=True)
    stored = c.get(key)  # the stored form: nonce(12) | ciphertext | tag(16) (spec §13.1)
    assert len(stored) == len(b"secret value") + 28
    assert b"secret value" not in stored


def test_secure_read_of_plain_value_is_a_miss(c, key):
    # Default policy (CACHEKIT_ENCRYPTION_FAIL_CLOSED unset): a value that fails
    # authentication is a counted miss, never wrong bytes.
    before = c.stats().get("unseal_failures_total", 0)
    c.set(key, b"not sealed")
    assert c.get(key, secure=True) is None
    assert c.stats()["unseal_failures_total"] == before + 1


def test_secure_without_master_key(agent_nokey, key):
    c = Client(agent_nokey.endpoint, timeout=30.0)
    try:
        with pytest.raises(cachekit_stub.CryptoError) as info:
            c.set(key, b"v", secure=True)
        assert info.value.name in ("CK_ENOKEY", "CK_ECRYPTO")
        c.set(key, b"v")  # plain values still work
        assert c.get(key) == b"v"
    finally:
        c.close()


def test_stats_count_requests(c, key):
    before = c.stats()
    assert before and all(isinstance(v, float) for v in before.values())
    for _ in range(10):
        c.get(key)
    after = c.stats()
    assert "requests_total" in after
    assert after["requests_total"] >= before["requests_total"] + 10


def test_threads_share_one_client(c, key):
    failures = []

    def worker(n):
        for i in range(25):
            k, v = f"{key}.{n}.{i}", f"{n}-{i}".encode()
            c.set(k, v, ttl=60)
            if c.get(k) != v:
                failures.append(k)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_async_operations(agent, key):
    async def run():
        a = AsyncClient(agent.endpoint, timeout=30.0)
        try:
            await a.set(key, b"v", ttl=100)
            assert await a.get(key) == b"v"
            assert await a.exists(key) is True
            assert 1 <= await a.get_ttl(key) <= 100
            assert await a.refresh_ttl(key, 200) is True
            async with a.lock(key) as h:
                assert h.handle
                assert await a.acquire_lock(key) is None
            assert (await a.health())["healthy"] is True
            assert "requests_total" in await a.stats()
            values = await asyncio.gather(*(a.set(f"{key}.{i}", str(i).encode()) for i in range(300)))
            assert values == [None] * 300
            got = await asyncio.gather(*(a.get(f"{key}.{i}") for i in range(300)))
            assert got == [str(i).encode() for i in range(300)]
            assert await a.delete(key) is True
        finally:
            a.close()

    asyncio.run(run())


def test_decorator(c, key):
    calls = []

    @cached(namespace="pytest", ttl=60, client=c)
    def profile(user_id, fields=("name",)):
        calls.append(user_id)
        return {"id": user_id, "fields": list(fields)}

    assert profile(7) == {"id": 7, "fields": ["name"]}
    assert profile(7) == {"id": 7, "fields": ["name"]}
    assert calls == [7]
    k = interop_key("pytest", "profile", [7, ["name"]])
    assert profile.cache_key(7) == k
    raw = c.get(k, namespace="")
    assert raw == encode_value({"id": 7, "fields": ["name"]})
    assert decode_value(raw) == {"id": 7, "fields": ["name"]}
    assert 1 <= c.get_ttl(k) <= 60
    profile.invalidate(7)
    profile(7)
    assert calls == [7, 7]


def test_decorator_secure_and_async(agent):
    calls = []

    async def run():
        a = AsyncClient(agent.endpoint)
        try:
            @cached(namespace="pytest", operation="secure.sum", secure=True, client=a)
            async def total(xs):
                calls.append(xs)
                return sum(xs)

            assert await total([1, 2, 3]) == 6
            assert await total([1, 2, 3]) == 6
            assert await a.get(total.cache_key([1, 2, 3]), secure=True) == encode_value(6)
        finally:
            a.close()

    asyncio.run(run())
    assert calls == [[1, 2, 3]]


def test_agent_backend(agent, key):
    b = AgentBackend(agent.endpoint)
    try:
        healthy, details = b.health_check()
        assert healthy is True
        if agent.backend == "memory":
            assert details["api_url"] == "memory:"
        else:
            assert details["api_url"].startswith("https://api.cachekit.io:")
        b.set(key, b"v", ttl=100)
        assert b.get(key) == b"v"
        assert b.exists(key) is True

        async def run():
            assert await b.get_async(key) == b"v"
            assert 1 <= await b.get_ttl(key) <= 100
            assert await b.refresh_ttl(key, 300) is True
            lock_id = await b.acquire_lock(key, timeout=5)
            assert isinstance(lock_id, str) and bytes.fromhex(lock_id)
            assert await b.acquire_lock(key) is None
            assert await b.release_lock(key, lock_id) is True
            assert await b.release_lock(key, lock_id) is False
            assert await b.delete_async(key) is True
            assert await b.get_ttl(key) is None

        asyncio.run(run())
        assert b.with_timeout(30.0).get(key) is None
    finally:
        b.close()


def test_fork_child_uses_its_own_socket(c, key):
    c.set(key, b"before fork")
    parent_conn = c._shared.conn

    def child():
        ok = c.get(key) == b"before fork" and c._shared.conn is not parent_conn
        c.set(key + ".child", b"from child")
        return ok

    assert run_in_child(child) == 0
    assert c.get(key + ".child") == b"from child"
    assert c._shared.conn is parent_conn


def test_agent_restart():
    binary = agent_binary()
    workdir = tempfile.mkdtemp(prefix="ckag-")
    first = RealAgent(binary, workdir)
    c = Client(first.endpoint, timeout=30.0)
    try:
        c.set("restart.k", b"v1")
        assert first.stop() == 0
        with pytest.raises(cachekit_stub.CacheKitTimeout):
            c.get("restart.k", timeout=0.2)  # nobody serves the endpoint now
        second = RealAgent(binary, workdir)
        try:
            assert c.get("restart.k") is None  # a new memory: store
            c.set("restart.k", b"v2")
            assert c.get("restart.k") == b"v2"
        finally:
            assert second.stop() == 0
    finally:
        c.close()
        shutil.rmtree(workdir, ignore_errors=True)


def test_second_agent_on_same_endpoint_refuses(agent):
    import subprocess

    proc = subprocess.run(
        [agent_binary(), "--endpoint", agent.endpoint, "--upstream", "memory:"],
        stdin=subprocess.DEVNULL, capture_output=True, timeout=30,
        env={k: v for k, v in os.environ.items() if not k.startswith("CACHEKIT_")},
    )
    assert proc.returncode != 0
    c = Client(agent.endpoint)
    try:
        assert c.health()["healthy"] is True  # the first agent still serves it
    finally:
        c.close()

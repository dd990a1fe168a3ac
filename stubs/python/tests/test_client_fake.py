# SPDX-License-Identifier: Apache-2.0
"""Sync and asyncio clients against the fake agent: request fields, id matching, late
replies, timeouts, error mapping, threads, asyncio concurrency, fork safety, agent restart."""

import asyncio
import os
import random
import threading
import time

import pytest

import cachekit_stub
from cachekit_stub import AsyncClient, Client, errors
from cachekit_stub import agent_pb2 as pb
from cachekit_stub._errors_table import TABLE

from conftest import error, ok


def wait_for(cond, what, limit=30.0):
    """Waits (not a timing assertion) until cond() holds; fails after a generous limit."""
    deadline = time.monotonic() + limit
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.005)


# ---- endpoint resolution --------------------------------------------------------------


def test_endpoint_argument_wins(monkeypatch):
    monkeypatch.setenv("CACHEKIT_AGENT_ENDPOINT", "ipc:///tmp/env.sock")
    assert cachekit_stub.resolve_endpoint("ipc:///tmp/arg.sock") == "ipc:///tmp/arg.sock"


def test_endpoint_from_environment(monkeypatch):
    monkeypatch.setenv("CACHEKIT_AGENT_ENDPOINT", "ipc:///tmp/env.sock")
    assert cachekit_stub.resolve_endpoint() == "ipc:///tmp/env.sock"


def test_endpoint_runtime_dir_for_non_root(monkeypatch):
    monkeypatch.delenv("CACHEKIT_AGENT_ENDPOINT", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/1000")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert cachekit_stub.resolve_endpoint() == "ipc:///run/user/1000/cachekit/agent.sock"


def test_endpoint_system_socket_for_root(monkeypatch):
    monkeypatch.delenv("CACHEKIT_AGENT_ENDPOINT", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/user/0")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert cachekit_stub.resolve_endpoint() == "ipc:///run/cachekit/agent.sock"


def test_endpoint_system_socket_without_runtime_dir(monkeypatch):
    monkeypatch.delenv("CACHEKIT_AGENT_ENDPOINT", raising=False)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert cachekit_stub.resolve_endpoint() == "ipc:///run/cachekit/agent.sock"


# ---- request fields -------------------------------------------------------------------


def test_set_sends_every_field(client, fake):
    client.set("k", b"\x00\xffbin", ttl=60, stale_ttl=30, secure=True, sliding=True, format="raw")
    req = fake.requests[-1]
    assert req.WhichOneof("op") == "set"
    assert (req.set.key, req.set.value, req.set.ttl_s, req.set.stale_ttl_s) == ("k", b"\x00\xffbin", 60, 30)
    assert (req.set.secure, req.set.sliding, req.set.format) == (True, True, "raw")
    assert req.deadline_ms == 30000
    assert req.namespace == ""
    assert req.id > 0


def test_ids_are_unique(client, fake):
    for i in range(50):
        client.exists(f"k{i}")
    ids = [r.id for r in fake.requests]
    assert len(set(ids)) == 50


def test_per_call_timeout_sets_deadline(client, fake):
    client.get("k", timeout=20.25)
    assert fake.requests[-1].deadline_ms == 20250
    client.get("k")
    assert fake.requests[-1].deadline_ms == 30000


def test_with_timeout_is_a_view_sharing_the_socket(client, fake):
    fast = client.with_timeout(20.3)
    assert fast.get("k") is None
    assert fake.requests[-1].deadline_ms == 20300
    assert client.timeout == 30.0 and fast.timeout == 20.3
    assert fast._shared is client._shared
    client.get("k")
    assert fake.requests[-1].deadline_ms == 30000


def test_namespace_default_and_override(fake):
    c = Client(fake.endpoint, timeout=30.0, namespace="tenant-a")
    try:
        c.set("k", b"v")
        assert fake.requests[-1].namespace == "tenant-a"
        c.get("k", namespace="other")
        assert fake.requests[-1].namespace == "other"
        c.get("k", namespace="")
        assert fake.requests[-1].namespace == ""
        assert c.with_namespace("b").get("k") is None
        assert fake.requests[-1].namespace == "b"
    finally:
        c.close()


def test_bad_namespace_rejected_locally():
    with pytest.raises(cachekit_stub.InvalidArgument):
        Client("ipc:///tmp/none.sock", namespace="bad ns")


def test_bad_arguments_rejected_locally(client, fake):
    with pytest.raises(cachekit_stub.InvalidArgument):
        client.set("k", "not bytes")
    with pytest.raises(cachekit_stub.InvalidArgument):
        client.set("k", b"v", ttl=-1)
    with pytest.raises(cachekit_stub.InvalidArgument):
        client.refresh_ttl("k", 0)
    with pytest.raises(ValueError):
        client.get("k", timeout=0)
    assert fake.requests == []


# ---- replies ---------------------------------------------------------------------------


def test_get_entry_reports_freshness(client, fake):
    fake.handler = lambda req: ok(req, get=pb.GetResult(
        found=True, value=b"v", freshness=pb.FRESHNESS_STALE, fresh_for_ms=-1, refresh_due=True))
    e = client.get_entry("k")
    assert (e.value, e.freshness, e.fresh_for_ms, e.refresh_due) == (b"v", "stale", None, True)
    fake.handler = lambda req: ok(req, get=pb.GetResult(
        found=True, value=b"w", freshness=pb.FRESHNESS_FRESH, fresh_for_ms=1500))
    e = client.get_entry("k")
    assert (e.value, e.freshness, e.fresh_for_ms, e.refresh_due) == (b"w", "fresh", 1500, False)


def test_ttl_results(client, fake):
    replies = iter([pb.GetTtlResult(found=True, ttl_s=42), pb.GetTtlResult(found=True, ttl_s=-1),
                    pb.GetTtlResult(found=False)])
    fake.handler = lambda req: ok(req, get_ttl=next(replies))
    assert client.get_ttl("k") == 42
    assert client.get_ttl("k") == -1
    assert client.get_ttl("k") is None
    fake.handler = lambda req: ok(req, refresh_ttl=pb.RefreshTtlResult(refreshed=True))
    assert client.refresh_ttl("k", 10) is True
    assert fake.requests[-1].refresh_ttl.ttl_s == 10


def test_lock_handles(client, fake):
    held = {}

    def handler(req):
        op = req.WhichOneof("op")
        if op == "acquire_lock":
            if req.acquire_lock.name in held:
                return ok(req, acquire_lock=pb.AcquireLockResult(acquired=False))
            held[req.acquire_lock.name] = b"H" + req.acquire_lock.name.encode()
            return ok(req, acquire_lock=pb.AcquireLockResult(
                acquired=True, handle=held[req.acquire_lock.name], lease_ms=req.acquire_lock.lease_ms))
        name = next((n for n, h in held.items() if h == req.release_lock.handle), None)
        if name is None:
            return error(req, 16)
        del held[name]
        return ok(req, release_lock=pb.ReleaseLockResult(released=True))

    fake.handler = handler
    h = client.acquire_lock("job", lease=1.5, wait=0.25)
    assert fake.requests[-1].acquire_lock.lease_ms == 1500
    assert fake.requests[-1].acquire_lock.wait_ms == 250
    assert fake.requests[-1].deadline_ms == 30250  # the wait comes on top of the timeout
    assert h.handle == b"Hjob" and h.lease_ms == 1500 and h.hex == b"Hjob".hex()
    assert client.acquire_lock("job") is None
    assert client.release_lock(h.hex) is True
    assert client.release_lock(h) is False  # CK_EBADHANDLE reads as False
    with client.lock("job") as h2:
        assert "job" in held and h2.handle == held["job"]
        with pytest.raises(cachekit_stub.LockContested):
            with client.lock("job"):
                pass
    assert "job" not in held


def test_unknown_reply_id_is_ignored(client, fake):
    def handler(req):
        stray = ok(req, get=pb.GetResult(found=True, value=b"stray"))
        stray.id = req.id + 1_000_000
        right = ok(req, get=pb.GetResult(found=True, value=b"right"))
        return [(0.0, stray), (0.02, right)]

    fake.handler = handler
    assert client.get("k") == b"right"
    wait_for(lambda: client.late_replies == 1, "the stray reply to be counted")


def test_malformed_reply_is_dropped(client, fake):
    class Garbage:
        def SerializeToString(self):
            return b"\xff\xff\xff"

    def handler(req):
        return [(0.0, Garbage()), (0.01, ok(req, exists=pb.ExistsResult(exists=True)))]

    fake.handler = handler
    assert client.exists("k") is True


def test_timeout_raises_and_late_reply_is_dropped(client, fake):
    first = []

    def handler(req):
        if not first:
            first.append(req.id)
            # Late by far more than the 0.1 s timeout, however slowly the client is scheduled.
            return [(3.0, ok(req, get=pb.GetResult(found=True, value=b"late")))]
        return ok(req, get=pb.GetResult(found=True, value=b"on time"))

    fake.handler = handler
    with pytest.raises(cachekit_stub.CacheKitTimeout) as info:
        client.get("k", timeout=0.1)
    assert isinstance(info.value, TimeoutError)
    assert info.value.code == 4 and info.value.name == "CK_ETIMEDOUT"
    wait_for(lambda: client.late_replies == 1, "the late reply")
    assert client.get("k") == b"on time"


def test_no_reply_times_out(client, fake):
    fake.handler = lambda req: None
    with pytest.raises(cachekit_stub.CacheKitTimeout):
        client.exists("k", timeout=0.1)


@pytest.mark.parametrize("code", sorted(c for c in TABLE if c != 0))
def test_every_status_maps_to_its_exception(client, fake, code):
    fake.handler = lambda req: error(req, code, "detail from agent")
    with pytest.raises(cachekit_stub.CacheKitError) as info:
        client.set("k", b"v")
    e = info.value
    assert type(e) is errors.error_class(code)
    assert e.code == code
    assert e.name == "CK_" + TABLE[code][0]
    assert e.message == "detail from agent"


def test_specific_exception_classes(client, fake):
    expect = {2: cachekit_stub.InvalidKey, 3: cachekit_stub.ValueTooLarge, 4: cachekit_stub.CacheKitTimeout,
              8: cachekit_stub.Unavailable, 9: cachekit_stub.AuthError, 13: cachekit_stub.Denied,
              15: cachekit_stub.LockContested, 17: cachekit_stub.CryptoError, 18: cachekit_stub.NoKey,
              19: cachekit_stub.Conflict}
    for code, cls in expect.items():
        fake.handler = lambda req, code=code: error(req, code)
        with pytest.raises(cls) as info:
            client.set("k", b"v")
        assert info.value.message == TABLE[code][1]  # empty agent message: the table's text


def test_unknown_status_is_an_error(client, fake):
    fake.handler = lambda req: error(req, 9999, "from the future")
    with pytest.raises(cachekit_stub.CacheKitError) as info:
        client.set("k", b"v")
    assert type(info.value) is cachekit_stub.CacheKitError
    assert (info.value.code, info.value.name) == (9999, "CK_UNKNOWN(9999)")


def test_miss_statuses_are_results(client, fake):
    fake.handler = lambda req: error(req, 14)  # CK_ENOTFOUND
    assert client.get("k") is None
    assert client.get_ttl("k") is None
    assert client.delete("k") is False
    assert client.exists("k") is False


def test_wrong_result_kind_is_a_protocol_error(client, fake):
    fake.handler = lambda req: ok(req, exists=pb.ExistsResult(exists=True))
    with pytest.raises(cachekit_stub.ProtocolError):
        client.get("k")


def test_closed_client_refuses_calls(fake):
    c = Client(fake.endpoint, timeout=30.0)
    assert c.exists("k") is False
    c.close()
    with pytest.raises(cachekit_stub.AgentUnreachable):
        c.exists("k")


# ---- concurrency -----------------------------------------------------------------------


def shuffled_replies(fake):
    """Replies after a random short delay, so concurrent replies come back out of order."""
    plain = fake.default_handler
    fake.handler = lambda req: [(random.uniform(0, 0.004), plain(req))]


def test_sixteen_threads_on_one_client(client, fake):
    shuffled_replies(fake)
    failures = []

    def worker(n):
        try:
            for i in range(40):
                key, value = f"t{n}-{i}", f"{n}:{i}".encode() * (1 + i % 5)
                client.set(key, value)
                got = client.get(key)
                if got != value:
                    failures.append((key, got))
        except Exception as exc:  # reported below
            failures.append(repr(exc))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert len(fake.requests) == 16 * 40 * 2
    assert len({r.id for r in fake.requests}) == len(fake.requests)


def test_asyncio_gather_of_a_thousand(fake):
    for i in range(1000):
        fake.store[f"a{i}"] = f"value-{i}".encode()
    shuffled_replies(fake)

    async def run():
        c = AsyncClient(fake.endpoint, timeout=10.0)
        try:
            return await asyncio.gather(*(c.get(f"a{i}") for i in range(1000)))
        finally:
            c.close()

    got = asyncio.run(run())
    assert got == [f"value-{i}".encode() for i in range(1000)]


async def until(cond, what, limit=30.0):
    """wait_for() for coroutines: yields to the event loop while it waits."""
    deadline = time.monotonic() + limit
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        await asyncio.sleep(0.005)


def test_async_timeout_and_late_reply(fake):
    first = []

    def handler(req):
        if not first:
            first.append(1)
            return [(3.0, ok(req, exists=pb.ExistsResult(exists=True)))]
        return ok(req, exists=pb.ExistsResult(exists=False))

    fake.handler = handler

    async def run():
        c = AsyncClient(fake.endpoint, timeout=30.0)
        try:
            with pytest.raises(cachekit_stub.CacheKitTimeout):
                await c.exists("k", timeout=0.1)
            # The client may give up before the fake agent has even read the request.
            await until(lambda: fake.requests, "the fake agent to receive the request")
            assert fake.requests[-1].deadline_ms == 100
            await until(lambda: c.late_replies == 1, "the late reply")
            assert await c.exists("k") is False
        finally:
            c.close()

    asyncio.run(run())


def test_async_client_errors_and_views(fake):
    fake.handler = lambda req: error(req, 2, "bad key")

    async def run():
        c = AsyncClient(fake.endpoint, timeout=30.0, namespace="ns1")
        try:
            with pytest.raises(cachekit_stub.InvalidKey):
                await c.set("k1", b"v")  # valid here; the fake agent refuses it
            assert fake.requests[-1].namespace == "ns1"
            v = c.with_timeout(20.5)
            with pytest.raises(cachekit_stub.InvalidKey):
                await v.get("x")
            assert fake.requests[-1].deadline_ms == 20500
            assert v._shared is c._shared
        finally:
            c.close()

    asyncio.run(run())


def test_async_client_survives_a_new_event_loop(fake):
    c = AsyncClient(fake.endpoint, timeout=30.0)
    try:
        fake.store["k"] = b"v"
        assert asyncio.run(c.get("k")) == b"v"
        assert asyncio.run(c.get("k")) == b"v"  # a second loop: a fresh socket there
    finally:
        c.close()


# ---- fork and restart ------------------------------------------------------------------


def run_in_child(fn):
    """Forks; the child runs fn() and exits 0 if it returns True. Returns the exit code."""
    pid = os.fork()
    if pid == 0:
        code = 3
        try:
            code = 0 if fn() else 2
        except BaseException:
            code = 4
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_fork_child_gets_its_own_socket(client, fake):
    client.set("k", b"parent")
    parent_conn = client._shared.conn
    assert parent_conn is not None and parent_conn.pid == os.getpid()

    def child():
        got = client.get("k")
        conn = client._shared.conn
        client.set("child", b"was here")
        return got == b"parent" and conn is not parent_conn and conn.pid == os.getpid()

    assert run_in_child(child) == 0
    assert fake.store["child"] == b"was here"
    # The parent's connection was neither replaced nor broken by the child.
    assert client.get("k") == b"parent"
    assert client._shared.conn is parent_conn


def test_fork_while_other_threads_are_calling(client, fake):
    shuffled_replies(fake)
    fake.store["k"] = b"v"
    stop = threading.Event()

    def busy():
        while not stop.is_set():
            client.get("k")

    threads = [threading.Thread(target=busy) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        codes = [run_in_child(lambda: client.get("k") == b"v") for _ in range(3)]
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert codes == [0, 0, 0]


def test_fork_async_client(fake):
    fake.store["k"] = b"v"
    c = AsyncClient(fake.endpoint, timeout=30.0)
    try:
        assert asyncio.run(c.get("k")) == b"v"
        assert run_in_child(lambda: asyncio.run(c.get("k")) == b"v") == 0
        assert asyncio.run(c.get("k")) == b"v"
    finally:
        c.close()


def test_agent_restart(client, fake):
    client.set("k", b"v")
    fake.restart()
    # The next call reconnects by itself (ZeroMQ reconnects the DEALER in the background).
    assert client.get("k", timeout=30.0) == b"v"


def test_async_agent_restart(fake):
    fake.store["k"] = b"v"

    async def run():
        c = AsyncClient(fake.endpoint, timeout=30.0)
        try:
            assert await c.get("k") == b"v"
            await asyncio.get_running_loop().run_in_executor(None, fake.restart)
            assert await c.get("k") == b"v"
        finally:
            c.close()

    asyncio.run(run())


def test_dropped_client_stops_its_io_thread(fake):
    import gc

    c = Client(fake.endpoint, timeout=30.0)
    assert c.exists("k") is False
    thread = c._shared.conn._thread
    assert thread.is_alive()
    del c
    gc.collect()
    thread.join(timeout=30)
    assert not thread.is_alive()

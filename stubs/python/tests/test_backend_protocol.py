# SPDX-License-Identifier: Apache-2.0
"""AgentBackend against the cachekit-py backend protocol list (cachekit_py_protocol.py), and
its behaviour over the fake agent (error translation, lock/TTL never raising, health)."""

import asyncio
import inspect

import pytest

from cachekit_stub import AgentBackend
from cachekit_stub import agent_pb2 as pb

from cachekit_py_protocol import HEALTH_KEYS_ERROR, HEALTH_KEYS_OK, PARAM_ANNOTATIONS, PROTOCOL, REQUIRED
from conftest import error, ok


@pytest.mark.parametrize("name,params,returns,kind", PROTOCOL, ids=[row[0] for row in PROTOCOL])
def test_method_matches_cachekit_py(name, params, returns, kind):
    method = getattr(AgentBackend, name)
    assert inspect.iscoroutinefunction(method) == (kind == "async")
    sig = inspect.signature(method)
    got = [(p.name, REQUIRED if p.default is inspect.Parameter.empty else p.default)
           for p in list(sig.parameters.values())[1:]]
    assert got == params
    expected_return = "AgentBackend" if returns == "<same class>" else returns
    assert sig.return_annotation == expected_return
    for p in list(sig.parameters.values())[1:]:
        allowed = PARAM_ANNOTATIONS[p.name]
        allowed = allowed if isinstance(allowed, tuple) else (allowed,)
        assert p.annotation in allowed, f"{name}({p.name}: {p.annotation})"


def test_protocol_list_is_complete():
    # Every public method of AgentBackend that cachekit-py knows of is in the list, and the
    # list has the full BaseBackend + capability method set.
    names = {row[0] for row in PROTOCOL}
    assert {"get", "set", "delete", "exists", "health_check", "acquire_lock", "release_lock",
            "get_ttl", "refresh_ttl", "with_timeout"} <= names
    assert {n + "_async" for n in ("get", "set", "delete", "exists", "health_check")} <= names


def test_sync_operations_over_fake(fake):
    b = AgentBackend(fake.endpoint, timeout=30.0)
    try:
        assert b.get("k") is None
        assert b.set("k", b"v", ttl=30) is None
        assert fake.requests[-1].set.ttl_s == 30
        assert b.get("k") == b"v"
        assert b.exists("k") is True
        assert b.delete("k") is True
        assert b.delete("k") is False
    finally:
        b.close()


def test_async_operations_over_fake(fake):
    async def run():
        b = AgentBackend(fake.endpoint, timeout=30.0)
        try:
            await b.set_async("k", b"v")
            assert fake.requests[-1].set.ttl_s == 0
            assert await b.get_async("k") == b"v"
            assert await b.exists_async("k") is True
            assert await b.delete_async("k") is True
            assert await b.get_async("k") is None
            healthy, details = await b.health_check_async()
            assert healthy is True and HEALTH_KEYS_OK <= set(details)
        finally:
            b.close()

    asyncio.run(run())


def test_health_check_details(fake):
    b = AgentBackend(fake.endpoint, timeout=30.0)
    try:
        healthy, details = b.health_check()
        assert healthy is True
        assert HEALTH_KEYS_OK <= set(details)
        assert details["backend_type"] == "agent"
        assert details["api_url"] == "memory:"
        assert details["latency_ms"] >= 0
    finally:
        b.close()


def test_health_check_unreachable_agent(tmp_ipc):
    b = AgentBackend(f"ipc://{tmp_ipc}/nobody.sock", timeout=0.2)
    try:
        healthy, details = b.health_check()
        assert healthy is False
        assert HEALTH_KEYS_ERROR <= set(details)
        assert details["latency_ms"] == -1
        assert details["error_type"] == "CacheKitTimeout"
    finally:
        b.close()


def test_errors_raise_with_error_type(fake):
    fake.handler = lambda req: error(req, 9, "bad key")  # CK_EAUTH
    b = AgentBackend(fake.endpoint, timeout=30.0)
    try:
        with pytest.raises(Exception) as info:
            b.get("k")
        # cachekit-py's BackendError when it is installed, else the stub's own error; both
        # carry the cachekit-py error classification.
        error_type = info.value.error_type
        assert getattr(error_type, "value", error_type) == "authentication"
    finally:
        b.close()


def test_locks_and_ttl_never_raise(fake):
    def handler(req):
        op = req.WhichOneof("op")
        if op == "acquire_lock":
            assert req.acquire_lock.lease_ms == 7000 and req.acquire_lock.wait_ms == 0
            return ok(req, acquire_lock=pb.AcquireLockResult(acquired=True, handle=b"\x01\xab",
                                                             lease_ms=7000))
        if op == "release_lock":
            return ok(req, release_lock=pb.ReleaseLockResult(released=req.release_lock.handle == b"\x01\xab"))
        if op == "get_ttl":
            return ok(req, get_ttl=pb.GetTtlResult(found=True, ttl_s=-1))
        return error(req, 8, "down")  # refresh_ttl: CK_EUNAVAILABLE

    fake.handler = handler

    async def run():
        b = AgentBackend(fake.endpoint, timeout=30.0)
        try:
            lock_id = await b.acquire_lock("k", timeout=7)
            assert lock_id == "01ab"
            assert await b.release_lock("k", lock_id) is True
            assert await b.release_lock("k", "ffff") is False
            assert await b.get_ttl("k") is None  # no expiry reads as None, as in cachekit-py
            assert await b.refresh_ttl("k", 10) is False  # errors read as False
            fake.handler = lambda req: error(req, 15)
            assert await b.acquire_lock("k") is None
        finally:
            b.close()

    asyncio.run(run())


def test_with_timeout_shares_the_socket(fake):
    b = AgentBackend(fake.endpoint, timeout=30.0)
    try:
        fast = b.with_timeout(20.25)
        assert isinstance(fast, AgentBackend)
        fast.get("k")
        assert fake.requests[-1].deadline_ms == 20250
        b.get("k")
        assert fake.requests[-1].deadline_ms == 30000
        assert fast.client._shared is b.client._shared
    finally:
        b.close()

# SPDX-License-Identifier: Apache-2.0
"""@cached over the fake agent, and the interop value reader's bounds (spec §6.5, §6.6)."""

import asyncio
import datetime
import json

import pytest

from cachekit_stub import AsyncClient, Client, cached
from cachekit_stub.decorator import check_bounds, decode_value, encode_value
from cachekit_stub.keys import InteropError, interop_key

from conftest import error, vectors_dir


def test_sync_miss_compute_set_then_hit(client, fake):
    calls = []

    @cached(namespace="users", ttl=60, client=client)
    def get_user(user_id, verbose=False):
        calls.append(user_id)
        return {"id": user_id, "name": "alice", "score": 2.5}

    assert get_user(42) == {"id": 42, "name": "alice", "score": 2.5}
    assert get_user(42) == {"id": 42, "name": "alice", "score": 2.5}
    assert calls == [42]
    key = interop_key("users", "get_user", [42, False])
    assert get_user.cache_key(42) == key
    assert fake.store[key] == encode_value({"id": 42, "name": "alice", "score": 2.5})
    set_req = next(r for r in fake.requests if r.WhichOneof("op") == "set")
    assert (set_req.set.key, set_req.set.ttl_s, set_req.namespace) == (key, 60, "")
    assert get_user.invalidate(42) is True
    get_user(42)
    assert calls == [42, 42]


def test_client_namespace_is_not_used_for_interop_keys(fake):
    c = Client(fake.endpoint, timeout=30.0, namespace="tenant")
    try:
        @cached(namespace="t", operation="op", client=c)
        def f(x):
            return x

        f(1)
        assert all(r.namespace == "" for r in fake.requests)
    finally:
        c.close()


def test_secure_flag_is_sent(client, fake):
    @cached(namespace="t", secure=True, client=client)
    def f(x):
        return [x]

    f(1)
    f(1)
    ops = [(r.WhichOneof("op"), getattr(r, r.WhichOneof("op")).secure) for r in fake.requests]
    assert ops == [("get", True), ("set", True), ("get", True)]


def test_async_function(fake):
    calls = []

    async def run():
        c = AsyncClient(fake.endpoint, timeout=30.0)
        try:
            @cached(namespace="t", ttl=5, client=c)
            async def slow_add(a, b):
                calls.append((a, b))
                return a + b

            assert await slow_add(1, 2) == 3
            assert await slow_add(1, b=2) == 3  # same key: b binds to its position
            assert await slow_add(2, 2) == 4
        finally:
            c.close()

    asyncio.run(run())
    assert calls == [(1, 2), (2, 2)]


def test_agent_errors_degrade_to_computing(client, fake):
    fake.handler = lambda req: error(req, 8, "upstream down")
    calls = []

    @cached(namespace="t", client=client)
    def f(x):
        calls.append(x)
        return x * 2

    assert f(2) == 4
    assert f(2) == 4
    assert calls == [2, 2]


def test_undecodable_entry_is_a_miss(client, fake):
    @cached(namespace="t", client=client)
    def f(x):
        return "fresh"

    fake.store[f.cache_key(1)] = b"\x92\x01"  # truncated array
    assert f(1) == "fresh"
    assert fake.store[f.cache_key(1)] == encode_value("fresh")


def test_bad_segments_fail_at_decoration():
    with pytest.raises(InteropError):
        cached(namespace="Users")
    with pytest.raises(InteropError):
        @cached(namespace="ok", client=object())
        def GetUser():
            pass


def test_unencodable_arguments_raise(client, fake):
    @cached(namespace="t", client=client)
    def f(x):
        return x

    with pytest.raises(InteropError):
        f(object())
    assert fake.requests == []


def test_values_round_trip():
    dt = datetime.datetime(2024, 1, 1, 12, 30, 45, 123456, tzinfo=datetime.timezone.utc)
    value = {"b": [1, 2.0, None, True], "a": b"\x00bin", "when": dt, "day": dt.date(), "s": "é"}
    assert decode_value(encode_value(value)) == value


def test_reader_rejects_trailing_bytes():
    with pytest.raises(ValueError, match="trailing"):
        decode_value(b"\x01\x02")
    with pytest.raises(ValueError, match="auto-mode"):
        decode_value(b"CK\x03rest")


BOUNDS = json.loads((vectors_dir() / "decode-bounds.json").read_text())


def _bounds_input(row):
    c = row["construction"]
    data = bytes.fromhex(c["repeat_hex"]) * c["count"] + bytes.fromhex(c["suffix_hex"])
    assert data.hex() == row["input_hex"] and len(data) == row["input_len"]
    return data


@pytest.mark.parametrize("row", BOUNDS["reject_vectors"], ids=lambda r: r["name"])
def test_decode_bounds_reject_rows(row):
    # IOP-31, IOP-32: every reject row is refused by the bounds check itself, before msgpack.
    with pytest.raises(ValueError):
        check_bounds(_bounds_input(row))
    with pytest.raises(ValueError):
        decode_value(_bounds_input(row))


@pytest.mark.parametrize("row", BOUNDS["accept_vectors"], ids=lambda r: r["name"])
def test_decode_bounds_accept_rows(row):
    check_bounds(_bounds_input(row))
    decode_value(_bounds_input(row))


def test_reader_bounds():
    with pytest.raises(ValueError):
        check_bounds(b"\xdd\xff\xff\xff\xff")  # array32 of 4 G items in 5 bytes
    with pytest.raises(ValueError):
        check_bounds(b"\x91" * 100 + b"\x01")  # 100 levels deep
    with pytest.raises(ValueError):
        check_bounds(b"\xda\x00\x10ab")  # str16 longer than the input
    with pytest.raises(ValueError):
        check_bounds(b"\xc1")
    check_bounds(b"\x91" * 60 + b"\x01")
    check_bounds(encode_value({"k": [1, "x" * 300, b"y" * 70000]}))

# SPDX-License-Identifier: Apache-2.0
"""The Python stub's near cache against real agents (embedded store and the fake API): hits
stay in the process, a writer and a reader process never see a value older than the last
write that returned, a forked child starts empty, the time and byte bounds, and the layout's
slot hash matches the C one (a C writer and a Python reader share the table)."""

from __future__ import annotations

import os
import struct
import time

import pytest

import cachekit_stub
from cachekit_stub import _near

ROUNDS = 2000


def near_client(agent, **kw):
    kw.setdefault("near_cache_bytes", 1 << 20)
    return cachekit_stub.Client(agent.endpoint, timeout=5.0, **kw)


def test_hit_is_served_in_process(agent):
    c = near_client(agent)
    try:
        c.set("pynear:local", b"42", ttl=100)
        assert c.get("pynear:local") == b"42"
        assert c.get("pynear:local") == b"42"
        e = c.get_entry("pynear:local")
        assert e.value == b"42" and e.freshness == "fresh" and 0 < e.fresh_for_ms <= 100000
        s = c.near_stats()
        assert s["hits"] == 2 and s["misses"] == 1 and s["entries"] == 1 and s["bytes"] > 0
        # A plain client reports zeros.
        plain = cachekit_stub.Client(agent.endpoint)
        assert plain.near_stats()["misses"] == 0
        plain.close()
    finally:
        c.close()


def _read_exact(fd, n):
    buf = b""
    while len(buf) < n:
        chunk = os.read(fd, n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def _num(v):
    return 0 if v is None else int(v)


def test_writer_and_reader_never_see_an_old_value(agent):
    key = f"pynear:coherent-{agent.backend}"
    to_reader_r, to_reader_w = os.pipe()
    to_writer_r, to_writer_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            r = near_client(agent)
            stale = rounds = 0
            while True:
                r.get(key)
                os.write(to_writer_w, b"r")
                (expect,) = struct.unpack("<q", _read_exact(to_reader_r, 8))
                if expect < 0:
                    break
                if _num(r.get(key)) != expect:
                    stale += 1
                rounds += 1
            s = r.near_stats()
            os.write(to_writer_w, struct.pack("<qqq", stale, rounds, s["hits"]))
            code = 0
        finally:
            os._exit(code)
    w = near_client(agent)
    writer_stale = 0
    value = 0
    try:
        for i in range(1, ROUNDS + 1):
            assert _read_exact(to_writer_r, 1) == b"r"
            if i % 10 == 0:
                w.delete(key)
                value = 0
            elif i % 10 == 5:
                w.refresh_ttl(key, 200)
            else:
                value = i
                w.set(key, str(i).encode(), ttl=300)
            if _num(w.get(key)) != value:
                writer_stale += 1
            os.write(to_reader_w, struct.pack("<q", value))
        _read_exact(to_writer_r, 1)
        os.write(to_reader_w, struct.pack("<q", -1))
        stale, rounds, hits = struct.unpack("<qqq", _read_exact(to_writer_r, 24))
    finally:
        os.waitpid(pid, 0)
        for fd in (to_reader_r, to_reader_w, to_writer_r, to_writer_w):
            os.close(fd)
        w.close()
    assert rounds == ROUNDS
    assert stale == 0
    assert writer_stale == 0
    assert hits >= ROUNDS // 2  # the cache was really used


def test_forked_child_starts_empty(agent):
    c = near_client(agent)
    try:
        c.set("pynear:fork", b"1", ttl=300)
        assert c.get("pynear:fork") == b"1"
        assert c.get("pynear:fork") == b"1"
        assert c.near_stats()["hits"] == 1
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            ok = False
            try:
                ok = (c.near_stats()["entries"] == 0 and c.get("pynear:fork") == b"1"
                      and c.near_stats()["misses"] == 1)
            finally:
                os.write(w, b"y" if ok else b"n")
                os._exit(0)
        verdict = _read_exact(r, 1)
        os.waitpid(pid, 0)
        os.close(r)
        os.close(w)
        assert verdict == b"y"
    finally:
        c.close()


def test_copy_ends_with_its_fresh_for(agent):
    c = near_client(agent)
    try:
        c.set("pynear:ttl", b"5", ttl=2)
        e = c.get_entry("pynear:ttl")
        assert e is not None and 0 <= e.fresh_for_ms <= 2000
        kept_until = time.monotonic() + e.fresh_for_ms / 1000.0
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            asked = time.monotonic()
            hits = c.near_stats()["hits"]
            if c.get("pynear:ttl") is None:
                break
            if c.near_stats()["hits"] > hits:  # served from the copy: only within its bound
                assert asked <= kept_until
            time.sleep(0.002)
        else:
            pytest.fail("the value never expired")
        s = c.near_stats()
        if e.fresh_for_ms > 0:  # the fake API may round Fresh-For down to 0: nothing kept
            assert s["expirations"] == 1 and s["hits"] >= 1
    finally:
        c.close()


def test_bytes_bound(agent):
    cap = 64 * 1024
    c = near_client(agent, near_cache_bytes=cap)
    try:
        for i in range(40):
            c.set(f"pynear:bytes-{i}", b"v" * 4096)
            assert c.get(f"pynear:bytes-{i}") == b"v" * 4096
            assert c.near_stats()["bytes"] <= cap
        s = c.near_stats()
        assert 8 <= s["entries"] < 40 and s["evictions"] == 40 - s["entries"]
    finally:
        c.close()


def test_slot_hash_matches_the_agent_table(agent):
    """A Set through the agent moves exactly the slot the Python hash names."""
    c = near_client(agent)
    try:
        c.set("pynear:slot", b"x", namespace="tenant1")
        assert c.get("pynear:slot", namespace="tenant1") == b"x"
        path = agent.endpoint[len("ipc://"):] + _near.SUFFIX
        with open(path, "rb") as f:
            data = f.read()
        nslots = struct.unpack_from("<Q", data, 16)[0]
        slot = _near.slot_hash(b"ns:tenant1:pynear:slot") & (nslots - 1)
        before = struct.unpack_from("<Q", data, 64 + 8 * slot)[0]
        c.delete("pynear:slot", namespace="tenant1")
        with open(path, "rb") as f:
            after = struct.unpack_from("<Q", f.read(), 64 + 8 * slot)[0]
        assert after == before + 1
        assert c.get("pynear:slot", namespace="tenant1") is None
    finally:
        c.close()

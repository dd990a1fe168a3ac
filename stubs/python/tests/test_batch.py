# SPDX-License-Identifier: Apache-2.0
"""Batch calls of the Python stub (get_many, set_many) against real agents on the embedded store
and on the fake API: one round trip per batch, misses and bad keys per item, the limit, and
near-cache hits answered locally."""

from __future__ import annotations

import pytest

import cachekit_stub
from cachekit_stub.errors import CacheKitError


def test_set_many_then_get_many(agent):
    c = cachekit_stub.Client(agent.endpoint, timeout=10.0)
    try:
        items = {f"pybatch:{i}": f"value-{i}".encode() for i in range(100)}
        assert c.set_many(items, ttl=300) == {k: None for k in items}
        for i in range(0, 100, 2):
            c.delete(f"pybatch:{i}")
        before = c.stats()["requests_total"]
        got = c.get_many(list(items) + ["bad key"])
        assert c.stats()["requests_total"] - before == 2  # the batch and this stats call
        for i in range(100):
            assert got[f"pybatch:{i}"] == (None if i % 2 == 0 else f"value-{i}".encode())
        assert isinstance(got["bad key"], CacheKitError)
        with pytest.raises(CacheKitError):
            c.get_many([f"k{i}" for i in range(1001)])
    finally:
        c.close()


def test_near_cache_answers_its_part(agent):
    c = cachekit_stub.Client(agent.endpoint, timeout=10.0, near_cache_bytes=1 << 20)
    try:
        c.set_many({"pybatch:n1": b"1", "pybatch:n2": b"2"}, ttl=300)
        assert c.get("pybatch:n1") == b"1"
        assert c.get_many(["pybatch:n1", "pybatch:n2"]) == {"pybatch:n1": b"1", "pybatch:n2": b"2"}
        s = c.near_stats()
        assert s["hits"] == 1 and s["entries"] == 2
        assert c.get_many(["pybatch:n1", "pybatch:n2"]) == {"pybatch:n1": b"1", "pybatch:n2": b"2"}
        assert c.near_stats()["hits"] == 3
        c.set("pybatch:n2", b"new")
        assert c.get_many(["pybatch:n2"]) == {"pybatch:n2": b"new"}
    finally:
        c.close()

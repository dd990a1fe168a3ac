# SPDX-License-Identifier: Apache-2.0
"""Interop-mode keys and values against interop-mode.json (spec §5.2, §6.5)."""

import datetime
import json
import uuid

import pytest

from cachekit_stub import keys
from cachekit_stub.keys import InteropError, args_hash, bind_args, canonical_args, canonical_value, interop_key

from conftest import vectors_dir

VECTORS = json.loads((vectors_dir() / "interop-mode.json").read_text())


class TaggedSet(list):
    """A $set as listed, elements kept apart even when Python would merge them (2 and 2.0)."""


def untag(v):
    """The Python value of a tagged-JSON vector input (see the file's tagged_json note)."""
    if isinstance(v, list):
        return [untag(x) for x in v]
    if isinstance(v, dict):
        if len(v) == 1:
            (tag, x), = v.items()
            if tag == "$set":
                return TaggedSet(untag(y) for y in x)
            if tag == "$bytes":
                return bytes.fromhex(x)
            if tag == "$datetime":
                return datetime.datetime.fromisoformat(x)
            if tag == "$uuid":
                return uuid.UUID(x)
            if tag == "$float":
                return float(x)
            if tag == "$int":
                return int(x)
        return {k: untag(x) for k, x in v.items()}
    return v


def as_set(v):
    """Turns TaggedSets into a set type the encoder treats as a set, keeping 2 and 2.0 apart."""
    if isinstance(v, TaggedSet):
        return _MultiSet(as_set(x) for x in v)
    if isinstance(v, list):
        return [as_set(x) for x in v]
    if isinstance(v, dict):
        return {k: as_set(x) for k, x in v.items()}
    return v


class _MultiSet(frozenset):
    """frozenset subclass whose iteration yields every listed element (even equal ones), so
    the dedupe-by-encoded-bytes rule is what removes 2.0 next to 2."""

    def __new__(cls, items):
        items = list(items)
        self = super().__new__(cls, [repr(i) for i in items])
        self._items = items
        return self

    def __iter__(self):
        return iter(self._items)


@pytest.mark.parametrize("row", VECTORS["key_vectors"], ids=[r["name"] for r in VECTORS["key_vectors"]])
def test_key_vector(row):
    args = as_set(untag(row["args"]))
    assert canonical_args(args).hex() == row["canonical_args_hex"]
    assert args_hash(args) == row["args_hash"]
    assert interop_key(row["namespace"], row["operation"], args) == row["expected_key"]


@pytest.mark.parametrize("row", VECTORS["error_vectors"], ids=[r["name"] for r in VECTORS["error_vectors"]])
def test_error_vector(row):
    with pytest.raises(InteropError):
        interop_key(row.get("namespace", "t"), row.get("operation", "op"), untag(row["args"]))


@pytest.mark.parametrize("row", VECTORS["value_vectors"], ids=[r["name"] for r in VECTORS["value_vectors"]])
def test_value_vector(row):
    assert canonical_value(untag(row["value"])).hex() == row["canonical_msgpack_hex"]


def test_vector_files_have_rows():
    # The rows are iterated above; a newer file may hold more, an empty one must not pass.
    assert len(VECTORS["key_vectors"]) > 0
    assert len(VECTORS["error_vectors"]) > 0


@pytest.mark.parametrize("namespace", ["ns", "nsapi"])
def test_reserved_namespaces_are_refused(namespace):
    # IOP-4: "ns:op:hash" would read as the API's ns:{namespace}:{rest} grammar.
    with pytest.raises(InteropError, match="reserved"):
        interop_key(namespace, "op", [1])
    interop_key(namespace + "x", "op", [1])  # only the exact words are reserved


@pytest.mark.parametrize("what", ["namespace", "operation"])
def test_dot_dot_inside_a_segment_is_refused(what):
    # IOP-5: the API refuses any key holding "..", so the stub refuses it first.
    segs = {"namespace": "users", "operation": "get"}
    segs[what] = "a..b"
    with pytest.raises(InteropError, match=r"\.\."):
        interop_key(segs["namespace"], segs["operation"], [1])
    segs[what] = "a.b"
    interop_key(segs["namespace"], segs["operation"], [1])


def test_set_dedupe_by_encoded_bytes():
    assert canonical_args([_MultiSet([2, 2.0])]).hex() == "919102"


def test_value_profile_keeps_floats_and_revives_datetimes():
    assert canonical_value(2.0).hex() == "cb4000000000000000"
    dt = datetime.datetime(2024, 1, 1, 12, 30, 45, 123456, tzinfo=datetime.timezone.utc)
    assert canonical_value(dt) == canonical_value({"__datetime__": True, "value": dt.isoformat()})


def test_segments_are_full_matches():
    with pytest.raises(InteropError):
        interop_key("users\n", "get", [])
    with pytest.raises(InteropError):
        interop_key("a" * 65, "get", [])
    assert interop_key("a" * 64, "b", []).startswith("a" * 64 + ":b:")


def test_unsupported_types_are_rejected():
    for bad in (object(), 1 + 2j, {1: "int key"}, "\ud800"):
        with pytest.raises(InteropError):
            canonical_args([bad])


def test_bind_args_flattens_in_declaration_order():
    def f(a, b=2, *rest, c, d=4, **extra):
        pass

    assert bind_args(f, (1,), {"c": 3}) == [1, 2, [], 3, 4, {}]
    assert bind_args(f, (1, 5, 6, 7), {"c": 3, "z": 9}) == [1, 5, [6, 7], 3, 4, {"z": 9}]
    # A keyword argument lands in its positional slot: same key either way.
    def g(x, y):
        pass

    assert bind_args(g, (1,), {"y": 2}) == bind_args(g, (1, 2), {})


def test_nesting_bound():
    deep = []
    for _ in range(keys.MAX_DEPTH + 5):
        deep = [deep]
    with pytest.raises(InteropError):
        canonical_args(deep)

# SPDX-License-Identifier: Apache-2.0
"""The generated key and TTL rules (cachekit_stub/_limits.py) against common/ck_limits.h, and the
stub's checks that use them: one TTL cap and one key rule for the agent, the C stub and the
Python stub."""

import re

import pytest

from cachekit_stub import InvalidArgument, _limits
from cachekit_stub.client import MAX_TTL_S
from cachekit_stub.keys import InteropError, interop_key

from conftest import SOURCE_ROOT

LIMITS_H = SOURCE_ROOT / "common" / "ck_limits.h"


def test_numbers_equal_the_header():
    text = LIMITS_H.read_text()
    numbers = {name: int(v) for name, v in re.findall(r'X\((\w+),\s*(\d+),\s*"', text)}
    assert numbers["TTL_MAX"] == 2_592_000
    for name, value in numbers.items():
        assert getattr(_limits, name) == value


def test_words_equal_the_header():
    text = LIMITS_H.read_text()
    block = text[text.index("CK_RESERVED_KEYS_MAP(X)"):].split("\n", 1)[0]
    assert _limits.RESERVED_KEYS == frozenset(re.findall(r'X\("([^"]*)"\)', block))
    assert _limits.RESERVED_NAMESPACES == {"ns", "nsapi"}


def test_the_stub_uses_the_table(client):
    assert MAX_TTL_S == _limits.TTL_MAX
    with pytest.raises(InvalidArgument):
        client.set("k", b"v", ttl=_limits.TTL_MAX + 1)
    for ns in _limits.RESERVED_NAMESPACES:
        with pytest.raises(InteropError):
            interop_key(ns, "op", [1])
    with pytest.raises(InteropError):
        interop_key("a" * (_limits.SEGMENT_MAX + 1), "op", [1])
    interop_key("a" * _limits.SEGMENT_MAX, "op", [1])

# SPDX-License-Identifier: Apache-2.0
"""The generated error table against include/cachekit/errors.h, the documentation's table,
and the exception mapping."""

import re

import cachekit_stub
from cachekit_stub import errors
from cachekit_stub._errors_table import TABLE

from conftest import SOURCE_ROOT

ERRORS_H = SOURCE_ROOT / "include" / "cachekit" / "errors.h"
STUB_DOC = SOURCE_ROOT / "docs" / "writing-a-stub.md"


def header_rows():
    text = ERRORS_H.read_text()
    return {int(n): (name, msg) for name, n, msg in
            re.findall(r'X\((\w+),\s*(\d+),\s*"([^"]*)"\)', text)}


def test_table_equals_errors_h():
    rows = header_rows()
    assert len(rows) >= 28
    assert TABLE == rows


def test_every_code_has_a_class():
    for code, (name, _msg) in TABLE.items():
        if code == 0:
            continue
        cls = errors.error_class(code)
        assert issubclass(cls, cachekit_stub.CacheKitError)
        assert cls.error_type in ("transient", "permanent", "timeout", "authentication", "unknown")


def test_documented_status_table_matches():
    doc = STUB_DOC.read_text()
    documented = {int(n): (name, msg) for n, name, msg in
                  re.findall(r"^\| (\d+) \| `CK_(\w+)` \| (.*) \|$", doc, re.M)}
    assert documented == TABLE


def test_timeout_is_a_builtin_timeout_error():
    e = errors.error_for_status(4)
    assert isinstance(e, TimeoutError) and isinstance(e, cachekit_stub.CacheKitTimeout)
    assert str(e) == "CK_ETIMEDOUT: operation timed out"

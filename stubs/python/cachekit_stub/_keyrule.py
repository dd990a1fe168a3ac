# SPDX-License-Identifier: Apache-2.0
"""The cache key rule, as the agent and the C stub apply it (common/keys.c), from the same
table (common/ck_limits.h, generated into _limits.py). A key the agent would refuse is refused
here, with the agent's code and reason, before a request leaves the process."""

from __future__ import annotations

import re
from typing import Optional

from . import _limits

_KEY_CHAR = re.compile(f"[{_limits.KEY_CHARSET}]")
_NAMESPACE = re.compile(f"[{_limits.NAMESPACE_CHARSET}]{{1,{_limits.NAMESPACE_MAX}}}")
_RUN = _limits.KEY_FORBIDDEN_RUN
_NS_BAD = "namespace must be 1-64 characters of [A-Za-z0-9_-]"
_TOO_LONG = f"key is longer than {_limits.KEY_MAX} characters"


def _prefix_problem(full: str) -> Optional[str]:
    for prefix in ("ns:", "nsapi:"):
        if full.startswith(prefix):
            ns, colon, rest = full[len(prefix):].partition(":")
            if not colon:
                return "namespaced key needs ns:{namespace}:{key}"
            if not _NAMESPACE.fullmatch(ns):
                return _NS_BAD
            if not rest:
                return "namespaced key has an empty key part"
            return None
    return None


def key_problem(namespace: str, key: str) -> Optional[str]:
    """Why the agent would refuse key under namespace ("" for none), or None if it accepts it.
    Lengths count UTF-8 bytes, as the agent sees them."""
    if namespace and not _NAMESPACE.fullmatch(namespace):
        return _NS_BAD
    full = f"ns:{namespace}:{key}" if namespace else key
    if len(full.encode("utf-8", "surrogatepass")) > _limits.KEY_MAX:
        return _TOO_LONG
    if not full or (namespace and not key):
        return "key is empty"
    if full in _limits.RESERVED_KEYS:
        return "key is a reserved word"
    for i, ch in enumerate(full):
        if not _KEY_CHAR.fullmatch(ch):
            return "key has a character outside [A-Za-z0-9_.:-]"
        if full.startswith(_RUN, i):
            return 'key contains ".."'
    return _prefix_problem(full)

# SPDX-License-Identifier: Apache-2.0
"""Interop mode (interop/v1) keys and values: canonical MessagePack and BLAKE2b-256.

Key (spec §5.2, vectors in interop-mode.json)::

    {namespace}:{operation}:{hex(BLAKE2b-256(canonical_msgpack([arg0, arg1, ...])))}

namespace and operation must each fully match ``[a-z0-9][a-z0-9._-]{0,63}``; they are never
normalised. The canonical encoding is written here rather than taken from msgpack-python,
which neither sorts map keys nor collapses integral floats:

* ints in shortest form, within [-2**63, 2**64 - 1];
* key profile: an integral float within [-2**63, 2**64) encodes as that int (2.0 == 2,
  -0.0 == 0); other floats are float64; NaN and infinities are errors;
* str as UTF-8 (lone surrogates are errors), bytes as bin;
* maps with str keys only, sorted by code point at every level;
* sets: elements encoded, sorted by encoded bytes, duplicates dropped, emitted as an array;
* aware datetimes as floor_to_µs(unix) / 1e6 (then the number rule); naive ones are errors;
* UUIDs as lowercase hyphenated strings. Anything else is an error.

The value profile (§6.5) differs only in that floats stay float64 and dates and times become
the sentinel maps of §6.1 (``{"__datetime__": true, "value": iso}``).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import inspect
import math
import re
import struct
import uuid
from typing import Any, Callable, Dict, List, Mapping, Sequence

from . import _limits

__all__ = ["InteropError", "canonical_args", "canonical_value", "args_hash", "interop_key", "bind_args"]

SEGMENT_RE = re.compile(
    f"[{_limits.SEGMENT_FIRST_CHARSET}][{_limits.SEGMENT_CHARSET}]{{0,{_limits.SEGMENT_MAX - 1}}}"
)
RESERVED_NAMESPACES = _limits.RESERVED_NAMESPACES
MAX_DEPTH = 256
_INT_MIN = -(2**63)
_UINT_MAX = 2**64 - 1
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)


class InteropError(TypeError, ValueError):
    """A value or key segment that interop mode cannot encode."""


def _uint_header(n: int, small_base: int, small_max: int, c8: int, c16: int, c32: int) -> bytes:
    if n <= small_max:
        return bytes([small_base | n])
    if c8 and n <= 0xFF:
        return bytes([c8, n])
    if n <= 0xFFFF:
        return bytes([c16]) + struct.pack(">H", n)
    if n <= 0xFFFFFFFF:
        return bytes([c32]) + struct.pack(">I", n)
    raise InteropError("length too large for MessagePack")


def _int(v: int) -> bytes:
    if v < _INT_MIN or v > _UINT_MAX:
        raise InteropError(f"integer out of the interop range [-2^63, 2^64-1]: {v}")
    if v >= 0:
        if v <= 0x7F:
            return bytes([v])
        if v <= 0xFF:
            return b"\xcc" + bytes([v])
        if v <= 0xFFFF:
            return b"\xcd" + struct.pack(">H", v)
        if v <= 0xFFFFFFFF:
            return b"\xce" + struct.pack(">I", v)
        return b"\xcf" + struct.pack(">Q", v)
    if v >= -32:
        return struct.pack(">b", v)
    if v >= -128:
        return b"\xd0" + struct.pack(">b", v)
    if v >= -32768:
        return b"\xd1" + struct.pack(">h", v)
    if v >= -(2**31):
        return b"\xd2" + struct.pack(">i", v)
    return b"\xd3" + struct.pack(">q", v)


class _Encoder:
    def __init__(self, key_profile: bool) -> None:
        self.key_profile = key_profile

    def number(self, f: float) -> bytes:
        if math.isnan(f) or math.isinf(f):
            raise InteropError("NaN and infinities are not allowed")
        if self.key_profile and f.is_integer() and _INT_MIN <= f < 2.0**64:
            return _int(int(f))
        return b"\xcb" + struct.pack(">d", f)

    def encode(self, v: Any, depth: int = 0) -> bytes:
        if depth > MAX_DEPTH:
            raise InteropError("nesting too deep")
        if v is None:
            return b"\xc0"
        if v is True:
            return b"\xc3"
        if v is False:
            return b"\xc2"
        if isinstance(v, int):
            return _int(int(v))
        if isinstance(v, float):
            return self.number(float(v))
        if isinstance(v, str):
            try:
                raw = v.encode("utf-8")
            except UnicodeEncodeError:
                raise InteropError("str with a lone surrogate") from None
            return _uint_header(len(raw), 0xA0, 31, 0xD9, 0xDA, 0xDB) + raw
        if isinstance(v, (bytes, bytearray, memoryview)):
            raw = bytes(v)
            return _uint_header(len(raw), 0, -1, 0xC4, 0xC5, 0xC6) + raw
        if isinstance(v, (list, tuple)):
            return self.array([self.encode(x, depth + 1) for x in v])
        if isinstance(v, (set, frozenset)):
            return self.array(sorted({self.encode(x, depth + 1) for x in v}))
        if isinstance(v, Mapping):
            return self.map(v, depth)
        if isinstance(v, _dt.datetime):
            return self.datetime(v, depth)
        if isinstance(v, uuid.UUID):
            return self.encode(str(v), depth)
        if not self.key_profile and isinstance(v, _dt.date):
            return self.map({"__date__": True, "value": v.isoformat()}, depth)
        if not self.key_profile and isinstance(v, _dt.time):
            return self.map({"__time__": True, "value": v.isoformat()}, depth)
        raise InteropError(f"type {type(v).__name__} cannot be encoded in interop mode")

    def array(self, items: List[bytes]) -> bytes:
        return _uint_header(len(items), 0x90, 15, 0, 0xDC, 0xDD) + b"".join(items)

    def map(self, m: Mapping, depth: int) -> bytes:
        for k in m:
            if not isinstance(k, str):
                raise InteropError("map keys must be str")
        out = [_uint_header(len(m), 0x80, 15, 0, 0xDE, 0xDF)]
        for k in sorted(m):  # str order is code-point order (= UTF-8 byte order)
            out.append(self.encode(k, depth + 1))
            out.append(self.encode(m[k], depth + 1))
        return b"".join(out)

    def datetime(self, v: _dt.datetime, depth: int) -> bytes:
        if v.tzinfo is None or v.utcoffset() is None:
            raise InteropError("naive datetime (no UTC offset)")
        if not self.key_profile:
            return self.map({"__datetime__": True, "value": v.isoformat()}, depth)
        micros = (v - _EPOCH) // _dt.timedelta(microseconds=1)
        return self.number(micros / 1e6)


_KEY = _Encoder(key_profile=True)
_VALUE = _Encoder(key_profile=False)


def canonical_args(args: Sequence[Any]) -> bytes:
    """Canonical MessagePack (key profile) of the flat argument array."""
    return _KEY.encode(list(args))


def canonical_value(value: Any) -> bytes:
    """Canonical MessagePack (value profile) of one value: the interop value format."""
    return _VALUE.encode(value)


def args_hash(args: Sequence[Any]) -> str:
    return hashlib.blake2b(canonical_args(args), digest_size=32).hexdigest()


def check_segment(what: str, seg: Any) -> str:
    """A namespace or operation segment: the full pattern, no ".." inside (the API refuses any
    key holding one, IOP-5), and a namespace is never "ns" or "nsapi", which the API reads as
    its own namespace prefixes (IOP-4)."""
    if not isinstance(seg, str) or not SEGMENT_RE.fullmatch(seg):
        raise InteropError(f"{what} must fully match [a-z0-9][a-z0-9._-]{{0,63}}: {seg!r}")
    if _limits.KEY_FORBIDDEN_RUN in seg:
        raise InteropError(f"{what} must not contain '..': {seg!r}")
    if what == "namespace" and seg in RESERVED_NAMESPACES:
        raise InteropError(f"namespace {seg!r} is reserved by the API (ns:/nsapi: prefixes)")
    return seg


def interop_key(namespace: str, operation: str, args: Sequence[Any]) -> str:
    """The interop/v1 key "{namespace}:{operation}:{args_hash}"."""
    check_segment("namespace", namespace)
    check_segment("operation", operation)
    return f"{namespace}:{operation}:{args_hash(args)}"


def bind_args(func: Callable, args: Sequence[Any], kwargs: Dict[str, Any]) -> List[Any]:
    """The flat interop argument array of a call: parameters in declaration order with
    defaults applied; *args as a nested array, **kwargs as a map."""
    bound = inspect.signature(func).bind(*args, **kwargs)
    bound.apply_defaults()
    flat: List[Any] = []
    for name, param in bound.signature.parameters.items():
        value = bound.arguments[name]
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            flat.append(list(value))
        elif param.kind is inspect.Parameter.VAR_KEYWORD:
            flat.append(dict(value))
        else:
            flat.append(value)
    return flat

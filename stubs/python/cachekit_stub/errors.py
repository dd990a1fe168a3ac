# SPDX-License-Identifier: Apache-2.0
"""Exceptions raised by cachekit_stub, mapped from the agent's wire status.

A Response's ``status`` is a number from the CK_ERRNO_MAP list in include/cachekit/errors.h.
The generated ``_errors_table`` gives each number its name and message; this module only
chooses which exception class a name raises. A code added to errors.h later still works: it
raises the base class :class:`CacheKitError` with the right code, name and message.

Each exception also carries ``error_type``, the cachekit-py ``BackendErrorType`` value
("transient", "permanent", "timeout", "authentication", "unknown") that its retry and
circuit-breaker logic expects.
"""

from __future__ import annotations

from typing import Dict, Optional, Type

from ._errors_table import NUMBERS, TABLE

__all__ = [
    "CacheKitError",
    "InvalidArgument",
    "InvalidKey",
    "ValueTooLarge",
    "CacheKitTimeout",
    "ProtocolError",
    "NotSupported",
    "Unavailable",
    "AgentUnreachable",
    "RateLimited",
    "AuthError",
    "Forbidden",
    "UpstreamError",
    "Denied",
    "LockContested",
    "BadLockHandle",
    "CryptoError",
    "NoKey",
    "Conflict",
    "InternalError",
    "error_for_status",
    "error_name",
]


class CacheKitError(Exception):
    """Base of every cachekit_stub error.

    Attributes: ``code`` (the CK error number), ``name`` (e.g. "CK_ETIMEDOUT"), ``message``
    (the agent's detail text, or the table's message when the agent sent none).
    """

    error_type = "unknown"

    def __init__(self, code: int, message: Optional[str] = None):
        self.code = int(code)
        self.name = error_name(self.code)
        default = TABLE.get(self.code, (None, "unknown error"))[1]
        self.message = message if message else default
        super().__init__(f"{self.name}: {self.message}")


class InvalidArgument(CacheKitError, ValueError):
    error_type = "permanent"


class InvalidKey(InvalidArgument):
    pass


class ValueTooLarge(InvalidArgument):
    pass


class CacheKitTimeout(CacheKitError, TimeoutError):
    error_type = "timeout"


class ProtocolError(CacheKitError):
    error_type = "permanent"


class NotSupported(CacheKitError):
    error_type = "permanent"


class Unavailable(CacheKitError, ConnectionError):
    error_type = "transient"


class AgentUnreachable(Unavailable):
    """The agent could not be reached (CK_ECONNECT), or the client is closed."""


class RateLimited(Unavailable):
    pass


class AuthError(CacheKitError, PermissionError):
    error_type = "authentication"


class Forbidden(AuthError):
    pass


class UpstreamError(CacheKitError):
    error_type = "transient"


class Denied(CacheKitError, PermissionError):
    """The agent's own policy refused the request (peer uid/gid or namespace rules)."""

    error_type = "permanent"


class LockContested(CacheKitError):
    error_type = "transient"


class BadLockHandle(CacheKitError):
    error_type = "permanent"


class CryptoError(CacheKitError):
    error_type = "permanent"


class NoKey(CryptoError):
    pass


class Conflict(CacheKitError):
    """The entry is stale (CK_ECONFLICT): write it again rather than refresh its TTL."""

    error_type = "permanent"


class InternalError(CacheKitError):
    pass


class AutoModeEntry(CacheKitError):
    """The entry is cachekit-py's auto-mode CK frame (CK_EAUTOMODE), not an interop value:
    read it with cachekit-py, or have that writer use interop mode."""

    error_type = "permanent"


# Name (without CK_) -> class. Names not listed raise CacheKitError itself.
_BY_NAME: Dict[str, Type[CacheKitError]] = {
    "EINVAL": InvalidArgument,
    "EINVALKEY": InvalidKey,
    "ETOOBIG": ValueTooLarge,
    "ETIMEDOUT": CacheKitTimeout,
    "ENOMEM": InternalError,
    "EPROTO": ProtocolError,
    "ENOTSUP": NotSupported,
    "EUNAVAILABLE": Unavailable,
    "EAUTH": AuthError,
    "EFORBIDDEN": Forbidden,
    "EUPSTREAM": UpstreamError,
    "ECONNECT": AgentUnreachable,
    "EDENIED": Denied,
    "EBUSY": LockContested,
    "EBADHANDLE": BadLockHandle,
    "ECRYPTO": CryptoError,
    "ENOKEY": NoKey,
    "ECONFLICT": Conflict,
    "ECONFIG": InternalError,
    "ESHUTDOWN": Unavailable,
    "EINTERNAL": InternalError,
    "ERATELIMIT": RateLimited,
    "EURL": InternalError,
    "EIO": UpstreamError,
    "EBUSYAGENT": InternalError,
    "EOVERLOAD": Unavailable,
    "EAUTOMODE": AutoModeEntry,
}

# Numbers of the codes this module itself raises (resolved through the generated table, so a
# renumbering in errors.h could never silently desynchronise them).
ETIMEDOUT = NUMBERS["ETIMEDOUT"]
ECONNECT = NUMBERS["ECONNECT"]
EPROTO = NUMBERS["EPROTO"]
EINVAL = NUMBERS["EINVAL"]
EINVALKEY = NUMBERS["EINVALKEY"]
ENOTFOUND = NUMBERS["ENOTFOUND"]
EBUSY = NUMBERS["EBUSY"]
EBADHANDLE = NUMBERS["EBADHANDLE"]


def error_name(code: int) -> str:
    """The symbolic name of a status ("CK_ETIMEDOUT"), or "CK_UNKNOWN(<n>)"."""
    entry = TABLE.get(int(code))
    return f"CK_{entry[0]}" if entry else f"CK_UNKNOWN({int(code)})"


def error_class(code: int) -> Type[CacheKitError]:
    entry = TABLE.get(int(code))
    if entry is None:
        return CacheKitError
    return _BY_NAME.get(entry[0], CacheKitError)


def error_for_status(code: int, message: Optional[str] = None) -> CacheKitError:
    """The exception for a non-zero wire status (unknown numbers give CacheKitError)."""
    return error_class(code)(code, message)

# SPDX-License-Identifier: Apache-2.0
"""cachekit_stub: a thin client of the cachekit agent (sync and asyncio), a cachekit-py
backend (AgentBackend) and an interop-mode caching decorator (@cached).

The stub holds no secrets: it sends protobuf requests (proto/cachekit/agent/v1/agent.proto)
over one ZeroMQ DEALER socket per process to the agent, which holds the API key, the master
key and the upstream connections.
"""

from .aio import AsyncClient
from .backend import AgentBackend
from .client import Client, Entry, LockHandle
from .decorator import cached
from .errors import (
    AgentUnreachable,
    AuthError,
    AutoModeEntry,
    BadLockHandle,
    CacheKitError,
    CacheKitTimeout,
    Conflict,
    CryptoError,
    Denied,
    Forbidden,
    InternalError,
    InvalidArgument,
    InvalidKey,
    LockContested,
    NoKey,
    NotSupported,
    ProtocolError,
    RateLimited,
    Unavailable,
    UpstreamError,
    ValueTooLarge,
)
from .keys import InteropError, interop_key
from ._transport import resolve_endpoint

__version__ = "0.1.0"

__all__ = [
    "AgentBackend",
    "AgentUnreachable",
    "AsyncClient",
    "AuthError",
    "AutoModeEntry",
    "BadLockHandle",
    "CacheKitError",
    "CacheKitTimeout",
    "Client",
    "Conflict",
    "CryptoError",
    "Denied",
    "Entry",
    "Forbidden",
    "InteropError",
    "InternalError",
    "InvalidArgument",
    "InvalidKey",
    "LockContested",
    "LockHandle",
    "NoKey",
    "NotSupported",
    "ProtocolError",
    "RateLimited",
    "Unavailable",
    "UpstreamError",
    "ValueTooLarge",
    "cached",
    "interop_key",
    "resolve_endpoint",
]

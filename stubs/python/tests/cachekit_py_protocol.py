# SPDX-License-Identifier: Apache-2.0
"""The cachekit-py backend method set that AgentBackend must match, as data.

Read (not copied) from the public repository cachekit-io/cachekit-py:
  * src/cachekit/backends/cachekitio/backend.py @ 472623eed699e91eb1bfd1fc6356a76e2bc8605c
    (CachekitIOBackend: the concrete methods cachekit-py calls, with their exact names,
    parameters, defaults and return annotations; the lock/TTL/timeout methods below are its
    LockableBackend / TTLInspectableBackend / TimeoutConfigurableBackend implementations)
  * src/cachekit/backends/base.py @ 1105454381b7d1def92cffb780b8490286876dbf
    (BaseBackend: get/set/delete/exists/health_check; it agrees with the rows below).
Note: base.py's LockableBackend / TimeoutConfigurableBackend protocols at that commit sketch
context-manager forms (acquire_lock(key, timeout, blocking_timeout) -> AsyncIterator[bool],
with_timeout(operation, timeout_ms)); the cachekit.io backend, which is the backend the agent
replaces, implements the forms listed here, and those are what AgentBackend matches.

Each row: (method name, [(parameter, default or REQUIRED)], return annotation, "sync"|"async").
Annotations are compared as the text cachekit-py writes (its modules use
`from __future__ import annotations`).
"""

REQUIRED = object()

SOURCE = {
    "repository": "cachekit-io/cachekit-py",
    "files": {
        "src/cachekit/backends/cachekitio/backend.py": "472623eed699e91eb1bfd1fc6356a76e2bc8605c",
        "src/cachekit/backends/base.py": "1105454381b7d1def92cffb780b8490286876dbf",
    },
}

PROTOCOL = [
    # BaseBackend (sync)
    ("get", [("key", REQUIRED)], "bytes | None", "sync"),
    ("set", [("key", REQUIRED), ("value", REQUIRED), ("ttl", None)], "None", "sync"),
    ("delete", [("key", REQUIRED)], "bool", "sync"),
    ("exists", [("key", REQUIRED)], "bool", "sync"),
    ("health_check", [], "tuple[bool, dict[str, Any]]", "sync"),
    # async variants
    ("get_async", [("key", REQUIRED)], "bytes | None", "async"),
    ("set_async", [("key", REQUIRED), ("value", REQUIRED), ("ttl", None)], "None", "async"),
    ("delete_async", [("key", REQUIRED)], "bool", "async"),
    ("exists_async", [("key", REQUIRED)], "bool", "async"),
    ("health_check_async", [], "tuple[bool, dict[str, Any]]", "async"),
    # LockableBackend
    ("acquire_lock", [("lock_key", REQUIRED), ("timeout", 5)], "str | None", "async"),
    ("release_lock", [("lock_key", REQUIRED), ("lock_id", REQUIRED)], "bool", "async"),
    # TTLInspectableBackend
    ("get_ttl", [("key", REQUIRED)], "int | None", "async"),
    ("refresh_ttl", [("key", REQUIRED), ("ttl", REQUIRED)], "bool", "async"),
    # TimeoutConfigurableBackend (returns a new backend of the same class)
    ("with_timeout", [("timeout", REQUIRED)], "<same class>", "sync"),
]

# Parameter annotations, where cachekit-py gives them.
PARAM_ANNOTATIONS = {
    "key": "str",
    "lock_key": "str",
    "lock_id": "str",
    "value": "bytes",
    "ttl": ("int | None", "int"),  # optional on set*, required int on refresh_ttl
    "timeout": ("int", "float"),  # int on acquire_lock, float on with_timeout
}

# health_check details keys, (healthy, unhealthy).
HEALTH_KEYS_OK = {"backend_type", "latency_ms", "api_url", "version"}
HEALTH_KEYS_ERROR = {"backend_type", "latency_ms", "error", "error_type"}

#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A complete program using the Python stub: store a value encrypted by the agent (secure),
read it back, hold a lock while doing some work, and print the agent's health. The endpoint
comes from $CACHEKIT_AGENT_ENDPOINT (scripts/quickstart writes it to build/quickstart.env);
secure calls need an agent with a master key. Exit status 0 on success."""
import sys

from cachekit_stub import Client


def main() -> int:
    ck = Client()  # endpoint from $CACHEKIT_AGENT_ENDPOINT; thread-safe, fork-safe
    key = "example:py-greeting"
    value = b"hello from Python, sealed by the agent"
    ck.set(key, value, ttl=300, secure=True)
    got = ck.get(key, secure=True)
    print(f"{key} = {got!r}")
    with ck.lock("example:report", lease=30, wait=5):
        print("holding the lock example:report")
    print("agent healthy:", ck.health()["healthy"])
    ck.delete(key)
    return 0 if got == value else 1


if __name__ == "__main__":
    sys.exit(main())

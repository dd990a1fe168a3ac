# SPDX-License-Identifier: Apache-2.0
"""Near-cache reports to the agent (Request.near, docs/writing-a-stub.md).

The growth of the near cache's hits, misses and invalidations since the last report rides on
an ordinary request, at most every EVERY requests or about once every INTERVAL_S seconds, and
only when something moved. Counters that went backwards (a fork emptied the cache) restart
the baseline at zero. Thread-safe: one lock per near cache.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Optional

EVERY = 100
INTERVAL_S = 1.0
FIELDS = ("hits", "misses", "invalidations")


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sent = dict.fromkeys(FIELDS, 0)
        self.last: Optional[float] = None
        self.since = 0


def take(state: _State, now_stats: dict, now: float) -> Optional[dict]:
    """The deltas to report now, or None (and counts one request)."""
    with state.lock:
        if any(now_stats[f] < state.sent[f] for f in FIELDS):
            state.sent = dict.fromkeys(FIELDS, 0)
        state.since += 1
        if state.last is not None and state.since < EVERY and now - state.last < INTERVAL_S:
            return None
        delta = {f: now_stats[f] - state.sent[f] for f in FIELDS}
        if not any(delta.values()):
            return None
        state.sent = {f: now_stats[f] for f in FIELDS}
        state.last = now
        state.since = 0
        return delta


def attach(near: Any, req: Any) -> None:
    """Sets req.near when near (a NearCache or None) has a report due."""
    if near is None:
        return
    state = near.__dict__.get("_report")
    if state is None:
        state = near.__dict__.setdefault("_report", _State())
    delta = take(state, near.stats(), time.monotonic())
    if delta is not None:
        for f, v in delta.items():
            setattr(req.near, f, v)

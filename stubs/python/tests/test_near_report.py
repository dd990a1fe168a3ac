# SPDX-License-Identifier: Apache-2.0
"""When the Python stub piggybacks a near-cache report on a request (Request.near) and what it
carries: the first request that finds the counters moved, then every 100 requests or once a
second; deltas, never totals; nothing when nothing moved; a fresh baseline after a fork, and
the field set on the real generated Request."""

from __future__ import annotations

from cachekit_stub import _near_report, agent_pb2


def stats(hits=0, misses=0, invalidations=0):
    return dict(hits=hits, misses=misses, invalidations=invalidations, expirations=0)


def test_first_report_then_every_100_requests():
    st = _near_report._State()
    assert _near_report.take(st, stats(misses=1), 5.0) == dict(hits=0, misses=1, invalidations=0)
    for _ in range(99):
        assert _near_report.take(st, stats(hits=7, misses=1), 5.0) is None
    assert _near_report.take(st, stats(hits=7, misses=1), 5.0) == dict(hits=7, misses=0,
                                                                       invalidations=0)


def test_once_a_second_and_only_when_moved():
    st = _near_report._State()
    assert _near_report.take(st, stats(), 5.0) is None
    assert _near_report.take(st, stats(hits=2, invalidations=1), 5.0) is not None
    assert _near_report.take(st, stats(hits=5, invalidations=1), 5.5) is None
    assert _near_report.take(st, stats(hits=5, invalidations=1), 6.0) == dict(
        hits=3, misses=0, invalidations=0)
    assert _near_report.take(st, stats(hits=5, invalidations=1), 60.0) is None


def test_counters_going_back_restart_the_baseline():
    st = _near_report._State()
    assert _near_report.take(st, stats(hits=50, misses=5), 5.0) is not None
    assert _near_report.take(st, stats(hits=2), 7.0) == dict(hits=2, misses=0, invalidations=0)


class _FakeNear:
    def __init__(self):
        self.s = stats(hits=3, misses=1)

    def stats(self):
        return dict(self.s)


def test_attach_sets_the_field_and_none_is_a_no_op():
    req = agent_pb2.Request(id=1)
    _near_report.attach(None, req)
    assert not req.HasField("near")
    near = _FakeNear()
    _near_report.attach(near, req)
    assert req.HasField("near") and req.near.hits == 3 and req.near.misses == 1
    again = agent_pb2.Request(id=2)
    _near_report.attach(near, again)  # nothing moved since
    assert not again.HasField("near")

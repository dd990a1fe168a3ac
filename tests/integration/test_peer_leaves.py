# SPDX-License-Identifier: Apache-2.0
"""A client that fills its reply queue and leaves (docs/security.md, "Resource bounds"): a
separate process sends Gets of a 1 MiB value and never reads, so the agent queues replies to
it up to max-peer-queued-bytes; then the process exits. The agent must notice (its ROUTER's
socket monitor reports the connection closed), forget that client's queue, count its queued
reply bytes back to zero and give the memory back: the gauges peers, peer_queued_bytes and
peer_queues and the agent's VmRSS are watched until they come back, with a deadline."""
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from harness import AGENT, Agent, RawClient, pb, stats_of, wait_until  # noqa: E402

CK_OK = 0
LIMIT = 16 << 20
pytestmark = pytest.mark.skipif(not AGENT, reason="CK_AGENT_BIN not set")

# The lazy client: its own process, so that leaving is a real exit (the kernel closes the
# socket). Sends n Gets, says "sent", never reads, exits when its stdin closes.
LAZY = r"""
import os, sys, zmq
from cachekit.agent.v1 import agent_pb2 as pb
ep, n = sys.argv[1], int(sys.argv[2])
s = zmq.Context().socket(zmq.DEALER)
s.setsockopt(zmq.RCVHWM, 1)
s.setsockopt(zmq.RCVBUF, 4096)
s.connect(ep)
for i in range(1, n + 1):
    s.send(pb.Request(id=i, deadline_ms=30000, get=pb.GetRequest(key="big")).SerializeToString())
print("sent", flush=True)
sys.stdin.read()
os._exit(0)
"""


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_a_client_that_fills_its_queue_and_exits_is_forgotten_and_its_memory_freed():
    n = 40  # 40 MiB of replies if nothing bounded them
    value = os.urandom(1 << 20)
    with Agent(env={"CACHEKIT_MAX_PEER_QUEUED_BYTES": str(LIMIT)}) as agent, \
            RawClient(agent.endpoint, 30000) as a:
        assert a.call(set=pb().SetRequest(key="big", value=value)).status == CK_OK
        assert a.call(get=pb().GetRequest(key="big")).get.value == value
        wait_until(lambda: stats_of(a)["peers"] == 1, what="the agent to count one client")
        base = rss(agent.proc.pid)
        calls, last = [0], [{}]

        def st():
            calls[0] += 1
            last[0] = stats_of(a)
            return last[0]

        req0 = st()["requests_total"]
        lazy = subprocess.Popen([sys.executable, "-c", LAZY, agent.endpoint, str(n)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            assert lazy.stdout.readline() == b"sent\n"

            def taken():
                # Every Get taken: requests_total counts them and our own Stats calls since
                # the one that read req0 (which counted itself).
                s = st()
                return s if (s["requests_total"] - req0 - (calls[0] - 1) >= n and s["peers"] == 2
                             and s["inflight_requests"] <= 1) else None

            try:
                full = wait_until(taken, what="the agent to take every Get of the lazy client")
            except AssertionError as e:
                raise AssertionError(f"{e}: {last[0]}") from None
            assert full["peer_queued_bytes"] >= LIMIT - (1 << 20) - 4096, full
            assert full["peer_queued_bytes"] <= LIMIT + (1 << 20), full
            assert full["peer_queue_refusals_total"] > 0
            assert full["peer_queues"] == 2
            grown = rss(agent.proc.pid) - base
            assert grown >= LIMIT // 2, f"the queue should hold memory: grew {grown >> 20} MiB"
        finally:
            lazy.stdin.close()
            assert lazy.wait(30) == 0
            lazy.stdout.close()
        # The client left: its queue and its bytes go, the connection count drops back.
        after = wait_until(
            lambda: (lambda s: s if s["peers"] == 1 and s["peer_queued_bytes"] == 0
                     and s["peer_queues"] == 1 else None)(stats_of(a)),
            what="the agent to forget the client that left")
        assert after["peer_queued_bytes"] == 0
        # And the memory: the queued replies were pages of their own, unmapped on release
        # (but for the few the agent keeps for its next large replies, a gauge of their own).
        spare = int(stats_of(a)["reply_spare_bytes"])
        assert spare <= 4 << 20, spare
        wait_until(lambda: rss(agent.proc.pid) <= base + (4 << 20) + spare,
                   what=f"VmRSS back within 4 MiB + {spare >> 10} KiB of spares of "
                        f"{base >> 20} MiB (now {rss(agent.proc.pid) >> 20} MiB)")
        # The agent still serves, and counts the next client.
        assert a.call(get=pb().GetRequest(key="big")).get.value == value
        with RawClient(agent.endpoint, 30000) as b:
            assert b.call(health=pb().HealthRequest()).status == CK_OK
            wait_until(lambda: stats_of(a)["peers"] == 2, what="the second client counted")
        wait_until(lambda: stats_of(a)["peers"] == 1, what="the second client's exit counted")
        assert agent.stop() == 0  # a clean exit (under ASan: no leak either)
        log = agent.read_log()
        assert "AddressSanitizer" not in log and "runtime error" not in log


def test_a_pool_of_workers_connecting_at_once_is_queued_not_refused():
    """300 connections made while the agent is stopped (a pre-fork pool starting while the
    agent is busy) all wait in the kernel's accept queue: none is refused. With libzmq's
    default backlog of 100 the rest got EAGAIN, and each such worker's first call waited out
    ZeroMQ's reconnect interval, doubling up to a second."""
    import signal
    import socket
    want = 300
    with open("/proc/sys/net/core/somaxconn") as f:
        if int(f.read()) < want:
            pytest.skip("net.core.somaxconn is below 300 here")
    with Agent() as agent, RawClient(agent.endpoint, 30000) as a:
        path = agent.endpoint[len("ipc://"):]
        socks, refused = [], 0
        agent.proc.send_signal(signal.SIGSTOP)
        try:
            for _ in range(want):
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.setblocking(False)
                if s.connect_ex(path) == 0:
                    socks.append(s)
                else:
                    refused += 1
                    s.close()
        finally:
            agent.proc.send_signal(signal.SIGCONT)
        assert refused == 0, f"{refused} of {want} connections refused"
        for s in socks:
            s.close()  # they never speak ZMTP: the agent drops them
        assert a.call(health=pb().HealthRequest()).status == CK_OK
        wait_until(lambda: stats_of(a)["peers"] == 1, what="the 300 silent connections gone")
        assert agent.stop() == 0

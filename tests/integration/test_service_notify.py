# SPDX-License-Identifier: Apache-2.0
"""systemd Type=notify: the agent reports READY=1 once its socket serves, RELOADING=1 with
MONOTONIC_USEC around a SIGHUP reload and READY=1 after it, STOPPING=1 when it drains, and
WATCHDOG=1 pings when WATCHDOG_USEC is set. The test plays systemd: it binds the unix
datagram socket named by NOTIFY_SOCKET and reads what the agent sends."""
import os
import re
import shutil
import signal
import socket
import tempfile
import time

import pytest

from harness import Agent, RawClient, pb

DEADLINE = 30.0


class NotifyListener:
    def __init__(self, directory):
        self.path = os.path.join(directory, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.seen = []

    def wait_for(self, predicate, what):
        """Reads datagrams until one satisfies predicate; returns its fields as a dict."""
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                break
            fields = dict(line.split("=", 1) for line in data.decode().split("\n") if "=" in line)
            self.seen.append(fields)
            if predicate(fields):
                return fields
        raise AssertionError(f"no {what} notification; saw {self.seen}")

    def close(self):
        self.sock.close()


@pytest.fixture
def setup():
    d = tempfile.mkdtemp(prefix="ck-notify-")
    listener = NotifyListener(d)
    agent = Agent(workdir=d, env={"NOTIFY_SOCKET": listener.path, "WATCHDOG_USEC": "400000"})
    agent.start(wait=False)
    yield agent, listener
    listener.close()
    agent.__exit__(None, None, None)


def test_ready_reload_stopping(setup):
    agent, n = setup
    ready = n.wait_for(lambda f: f.get("READY") == "1", "READY=1")
    assert ready["STATUS"].startswith("serving ipc://"), ready
    # READY=1 is sent after the socket serves: a request made now is answered.
    with RawClient(agent.endpoint) as c:
        assert c.call(health=pb().HealthRequest()).status == 0

    # Watchdog: at least two pings at half of WATCHDOG_USEC.
    n.wait_for(lambda f: f.get("WATCHDOG") == "1", "first WATCHDOG=1")
    n.wait_for(lambda f: f.get("WATCHDOG") == "1", "second WATCHDOG=1")

    before_us = time.monotonic_ns() // 1000
    agent.send_signal(signal.SIGHUP)
    reloading = n.wait_for(lambda f: f.get("RELOADING") == "1", "RELOADING=1")
    after_us = time.monotonic_ns() // 1000
    stamp = int(reloading["MONOTONIC_USEC"])
    assert before_us <= stamp <= after_us, (before_us, stamp, after_us)
    again = n.wait_for(lambda f: f.get("READY") == "1", "READY=1 after the reload")
    assert "reloaded" in again["STATUS"]

    agent.send_signal(signal.SIGTERM)
    stopping = n.wait_for(lambda f: f.get("STOPPING") == "1", "STOPPING=1")
    assert stopping["STATUS"].startswith("draining")
    assert agent.proc.wait(DEADLINE) == 0


def test_no_notify_socket_runs_as_before():
    with Agent() as agent, RawClient(agent.endpoint) as c:
        assert c.call(health=pb().HealthRequest()).status == 0
        assert "watchdog" not in agent.read_log()


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UNIT = os.path.join(ROOT, "deploy", "systemd", "cachekit-agent.service")


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze not installed")
def test_unit_verifies_clean_and_uses_notify():
    import subprocess  # noqa: PLC0415

    from harness import AGENT  # noqa: PLC0415

    text = open(UNIT, encoding="utf-8").read()
    for line in ("Type=notify", "NotifyAccess=main", "ExecReload=/bin/kill -HUP $MAINPID"):
        assert line + "\n" in text, line
    with tempfile.TemporaryDirectory(prefix="ck-unit-") as d:
        # verify checks that ExecStart= exists: point it at the binary under test.
        copy = os.path.join(d, "cachekit-agent.service")
        with open(copy, "w", encoding="utf-8") as f:
            f.write(text.replace("/usr/bin/cachekit-agent", AGENT))
        out = subprocess.run(["systemd-analyze", "verify", copy], capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 0 and out.stderr.strip() == "", out.stderr
        sec = subprocess.run(["systemd-analyze", "security", "--offline=yes", copy],
                             capture_output=True, text=True, timeout=60)
        m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", sec.stdout)
        assert m and float(m.group(1)) <= 2.0, sec.stdout[-400:]

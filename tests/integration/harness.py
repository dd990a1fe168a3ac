# SPDX-License-Identifier: Apache-2.0
"""Process harness for integration tests: starts a real cachekit-agent on a private ipc
endpoint, waits until it serves, and stops it with a signal. Also a raw protocol client
built only on pyzmq and the generated agent_pb2 (what any other language would do), and
wait_until(), the one way a test waits for an event (never a fixed sleep and a guess)."""
import os
import shutil
import signal
import subprocess
import tempfile
import time

import zmq

AGENT = os.environ.get("CK_AGENT_BIN", "")
CTL = os.environ.get("CK_CTL_BIN", "")


def wait_until(predicate, timeout=30.0, what="the condition", interval=0.02):
    """Polls predicate() until it returns a true value (returned) or `timeout` seconds pass
    (AssertionError naming `what`). The deadline is generous on purpose: the event itself
    ends the wait, the deadline only bounds a broken test on a busy machine."""
    deadline = time.monotonic() + timeout
    while True:
        got = predicate()
        if got:
            return got
        if time.monotonic() >= deadline:
            raise AssertionError(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def stats_of(client):
    """The agent's stats as a dict name -> value, through a RawClient."""
    return {s.name: s.value for s in client.call(stats=pb().StatsRequest()).stats.stats}


def pb():
    """The generated contract module (PYTHONPATH points at the build tree)."""
    from cachekit.agent.v1 import agent_pb2  # noqa: PLC0415

    return agent_pb2


class Agent:
    """A cachekit-agent process. Use as a context manager."""

    def __init__(self, *args, env=None, endpoint=None, workdir=None):
        self.dir = workdir or tempfile.mkdtemp(prefix="ck-agent-")
        self.endpoint = endpoint or f"ipc://{self.dir}/run/agent.sock"
        self.args = list(args)
        self.env = dict(os.environ)
        for k in list(self.env):
            if k.startswith("CACHEKIT_") or k == "REDIS_URL":
                del self.env[k]
        self.env.update(env or {})
        self.log_path = os.path.join(self.dir, "agent.log")
        self.proc = None
        self.log = None

    def start(self, wait=True):
        if getattr(self, "log", None) is not None:
            self.log.close()
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [AGENT, "--endpoint", self.endpoint, *self.args],
            stdout=self.log, stderr=self.log, env=self.env)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"agent exited {self.proc.returncode}: {self.read_log()}")
            if "ready: serving" in self.read_log():
                return
            time.sleep(0.02)
        self.proc.kill()
        self.proc.wait()
        raise RuntimeError("agent did not become ready: " + self.read_log())

    def read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=30.0):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def close(self):
        """Stops the process if it runs and removes the work directory (log included)."""
        try:
            self.stop()
        finally:
            if self.log is not None:
                self.log.close()
                self.log = None
            shutil.rmtree(self.dir, ignore_errors=True)

    def __exit__(self, *exc):
        self.close()


class RawClient:
    """Speaks agent.proto over a DEALER socket with no stub library in between."""

    def __init__(self, endpoint, timeout_ms=2000):
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(endpoint)
        self.timeout_ms = timeout_ms
        self.next_id = 1

    def send_raw(self, frames):
        self.sock.send_multipart(frames)

    def recv(self, timeout_ms=None):
        if not self.sock.poll(timeout_ms or self.timeout_ms):
            raise TimeoutError("no reply from agent")
        resp = pb().Response()
        resp.ParseFromString(self.sock.recv())
        return resp

    def call(self, deadline_ms=None, namespace="", **op):
        req = pb().Request(id=self.next_id, deadline_ms=deadline_ms or self.timeout_ms,
                           namespace=namespace, **op)
        self.next_id += 1
        self.sock.send(req.SerializeToString())
        while True:
            resp = self.recv((deadline_ms or self.timeout_ms) + 1000)
            if resp.id == req.id:
                return resp

    def close(self):
        self.sock.close(0)
        self.ctx.term()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def ctl(endpoint, *args, input=None, timeout=30):
    """Runs cachekit-ctl; returns CompletedProcess with bytes stdout/stderr."""
    return subprocess.run([CTL, "--endpoint", endpoint, *args], input=input,
                          capture_output=True, timeout=timeout)

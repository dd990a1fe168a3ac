# SPDX-License-Identifier: Apache-2.0
"""The README's examples run as written: examples/c/hello.c (built by CMake as example_hello)
and examples/python/hello.py, each against a real agent that has a master key (both use
secure=True), with the endpoint given only through CACHEKIT_AGENT_ENDPOINT as in the README."""
import os
import secrets
import subprocess
import sys

from harness import Agent

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
C_EXAMPLE = os.environ.get("CK_EXAMPLE_C", "")
PY_STUB_DIR = os.environ.get("CK_PY_STUB_DIR", "")


def run(cmd, endpoint, **env):
    e = {k: v for k, v in os.environ.items() if not k.startswith("CACHEKIT_")}
    e.update(env, CACHEKIT_AGENT_ENDPOINT=endpoint)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=e)


def test_c_example_round_trip_secure():
    with Agent(env={"CACHEKIT_MASTER_KEY": secrets.token_hex(32)}) as a:
        out = run([C_EXAMPLE], a.endpoint)
        assert out.returncode == 0, out.stderr
        assert 'example:greeting = "hello from C, sealed by the agent"' in out.stdout
        # The value went through the keyring: the agent sealed it.
        assert "keyring: 1 key(s)" in a.read_log()


def test_c_example_reports_missing_master_key():
    with Agent() as a:
        out = run([C_EXAMPLE], a.endpoint)
        assert out.returncode == 1
        assert "no master key configured" in out.stderr


def test_python_example_round_trip_secure():
    with Agent(env={"CACHEKIT_MASTER_KEY": secrets.token_hex(32)}) as a:
        out = run([sys.executable, os.path.join(ROOT, "examples", "python", "hello.py")],
                  a.endpoint, PYTHONPATH=PY_STUB_DIR)
        assert out.returncode == 0, out.stderr
        assert "example:py-greeting = b'hello from Python, sealed by the agent'" in out.stdout
        assert "agent healthy: True" in out.stdout

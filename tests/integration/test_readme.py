# SPDX-License-Identifier: Apache-2.0
"""The README's "Using it" examples run verbatim. The test builds what scripts/quickstart
leaves behind (an install prefix from `cmake --install`, an agent on memory: with a master key
in a 0600 file, the settings of build/quickstart.env) and runs every ```sh block of the section
with bash -e, in a scratch directory that has the repository's examples/."""
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile

import pytest

from harness import Agent

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("CK_BUILD_DIR", "")
CONSUMER_FLAGS = os.environ.get("CK_CONSUMER_FLAGS", "")


def readme_blocks():
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    section = text[text.index("## Using it"):text.index("### From any other language")]
    return re.findall(r"```sh\n(.*?)```", section, re.S)


@pytest.fixture(scope="module")
def env():
    tmp = tempfile.mkdtemp(prefix="ck-readme-")
    prefix = os.path.join(tmp, "prefix")
    subprocess.run(["cmake", "--install", BUILD, "--prefix", prefix], check=True,
                   capture_output=True, timeout=300)
    libdir = os.path.dirname(next(os.path.join(d, f) for d, _, fs in os.walk(prefix)
                                  for f in fs if f == "libcachekit-stub.so"))
    pydir = next(d for d, _, _ in os.walk(prefix) if d.endswith("dist-packages"))
    bindir = os.path.join(tmp, "bin")
    os.mkdir(bindir)
    if CONSUMER_FLAGS:  # sanitizer builds: programs linking the library need the same flags
        with open(os.path.join(bindir, "cc"), "w", encoding="utf-8") as f:
            f.write(f'#!/bin/sh\nexec /usr/bin/cc {CONSUMER_FLAGS} "$@"\n')
        os.chmod(os.path.join(bindir, "cc"), 0o755)
    key = os.path.join(tmp, "master_key")
    fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, secrets.token_hex(32).encode())
    os.close(fd)
    work = os.path.join(tmp, "work")
    os.makedirs(os.path.join(work, "build"))
    os.symlink(os.path.join(ROOT, "examples"), os.path.join(work, "examples"))
    agent = Agent("--upstream", "memory:", "--metrics-listen", "127.0.0.1:0",
                  env={"CACHEKIT_MASTER_KEY_FILE": key}, workdir=os.path.join(tmp, "agent"))
    os.makedirs(agent.dir)
    agent.start()
    port = re.search(r"\(port (\d+)\)", agent.read_log()).group(1)
    e = {k: v for k, v in os.environ.items() if not k.startswith("CACHEKIT_")}
    e.update({
        "CACHEKIT_AGENT_ENDPOINT": agent.endpoint,
        "PATH": f"{bindir}:{prefix}/bin:{e['PATH']}",
        "PKG_CONFIG_PATH": os.path.join(libdir, "pkgconfig"),
        "LD_LIBRARY_PATH": libdir,
        "PYTHONPATH": pydir,
        "CACHEKIT_QUICKSTART_METRICS": f"http://127.0.0.1:{port}/metrics",
    })
    yield e, work
    agent.__exit__(None, None, None)
    shutil.rmtree(tmp, ignore_errors=True)


def test_readme_has_the_blocks():
    blocks = readme_blocks()
    assert blocks[0].startswith(". build/quickstart.env")
    assert len(blocks) >= 4


@pytest.mark.parametrize("index", range(1, len(readme_blocks())))
def test_readme_block_runs_verbatim(env, index):
    e, work = env
    block = readme_blocks()[index]
    out = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", block], cwd=work, env=e,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"block {index} failed:\n{block}\n{out.stdout}\n{out.stderr}"
    assert "error" not in out.stderr.lower(), out.stderr

# SPDX-License-Identifier: Apache-2.0
"""The manual pages are generated from the binaries (every setting of `cachekit-agent --help`
is in cachekit-agent(8) and cachekit-agent.conf(5), every command of `cachekit-ctl --help` in
cachekit-ctl(1)), render without groff warnings, and `cmake --install` puts them in
share/man/man{1,5,8} beside the systemd unit."""
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from harness import AGENT, CTL

BUILD = os.environ.get("CK_BUILD_DIR", "")
MAN = os.path.join(BUILD, "man")


def help_of(binary):
    return subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=30,
                          check=True, env=dict(os.environ, ASAN_OPTIONS="detect_leaks=0")).stdout


def page(name):
    return open(os.path.join(MAN, name), encoding="utf-8").read()


def settings():
    return re.findall(r"^  --([a-z0-9-]+) (?:VALUE|BOOL)", help_of(AGENT), re.M)


def test_every_setting_is_documented():
    names = settings()
    assert len(names) >= 25 and "metrics-listen" in names
    agent8, conf5 = page("cachekit-agent.8"), page("cachekit-agent.conf.5")
    for n in names:
        roff = n.replace("-", "\\-")
        assert f"\\fB\\-\\-{roff}\\fR" in agent8, n
        assert f"\\fB{roff}\\fR = " in conf5, n


def test_every_ctl_command_is_documented():
    commands = re.findall(r"^  ([a-z]+) ", help_of(CTL).split("Options:")[0], re.M)
    assert {"get", "set", "lock", "stats"} <= set(commands)
    ctl1 = page("cachekit-ctl.1")
    for c in commands:
        assert f"\\fB{c}" in ctl1, c


@pytest.mark.skipif(not shutil.which("groff"), reason="groff not installed")
@pytest.mark.parametrize("name", ["cachekit-agent.8", "cachekit-agent.conf.5", "cachekit-ctl.1"])
def test_renders_without_warnings(name):
    out = subprocess.run(["groff", "-man", "-ww", "-z", os.path.join(MAN, name)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and out.stderr == "", out.stderr


def test_installed_with_the_unit():
    with tempfile.TemporaryDirectory(prefix="ck-man-") as d:
        subprocess.run(["cmake", "--install", BUILD, "--prefix", d], check=True,
                       capture_output=True, timeout=300)
        for rel in ("share/man/man8/cachekit-agent.8", "share/man/man5/cachekit-agent.conf.5",
                    "share/man/man1/cachekit-ctl.1", "lib/systemd/system/cachekit-agent.service",
                    "lib/tmpfiles.d/cachekit-agent.conf", "lib/sysusers.d/cachekit-agent.conf"):
            assert os.path.isfile(os.path.join(d, rel)), rel
        libs = [os.path.relpath(os.path.join(r, f), d) for r, _, fs in os.walk(d) for f in fs
                if f.startswith("libcachekit-stub.so")]
        # Debian's multiarch directory, whatever the prefix.
        assert libs and all(re.match(r"lib/[a-z0-9_]+-linux-gnu[a-z0-9_]*/", p) for p in libs), libs

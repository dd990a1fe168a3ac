# SPDX-License-Identifier: Apache-2.0
"""Access rules per uid/gid with two real local users (docs/access-rules.md): uid A owns
namespace "alice"; uid B is refused with CK_EDENIED for read, write, delete, lock and secure
intent there; a SIGHUP reload that grants B read lets B read. Each user's calls are
cachekit-ctl processes run under setpriv with that user's uid and gid, so the agent sees the
users' real kernel credentials. A reload with a bad rule keeps the running rules. Needs root (to create the throwaway users); skipped otherwise."""
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from harness import AGENT, CTL, Agent  # noqa: E402

K1 = "11" * 32
EXIT_OK, EXIT_ERROR = 0, 3
DENIED = b"access denied by agent policy"  # ck_strerror(CK_EDENIED)

pytestmark = [
    pytest.mark.skipif(not (AGENT and CTL), reason="CK_AGENT_BIN/CK_CTL_BIN not set"),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create two throwaway users"),
    pytest.mark.skipif(not (shutil.which("useradd") and shutil.which("setpriv")),
                       reason="needs useradd and setpriv"),
]


def run(*cmd):
    subprocess.run(cmd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def users():
    """Two users sharing one primary group (the socket group). Removed afterwards."""
    tag = f"{os.getpid() % 100000}"
    group, a, b = f"ckacc-g{tag}", f"ckacc-a{tag}", f"ckacc-b{tag}"
    team, c = f"ckacc-t{tag}", f"ckacc-c{tag}"
    made = []
    try:
        for g in (group, team):
            run("groupadd", "--system", g)
            made.append(("groupdel", g))
        for name in (a, b):
            run("useradd", "--system", "--no-create-home", "--gid", group,
                "--shell", "/usr/sbin/nologin", name)
            made.insert(0, ("userdel", name))
        # c: primary group the socket group, and a member of team (a supplementary group).
        run("useradd", "--system", "--no-create-home", "--gid", group, "--groups", team,
            "--shell", "/usr/sbin/nologin", c)
        made.insert(0, ("userdel", c))
        import grp, pwd  # noqa: E401, PLC0415
        gid = grp.getgrnam(group).gr_gid
        yield {"group": group, "gid": gid,
               "a": pwd.getpwnam(a).pw_uid, "b": pwd.getpwnam(b).pw_uid,
               "c": pwd.getpwnam(c).pw_uid, "team": team, "team_gid": grp.getgrnam(team).gr_gid}
    finally:
        for cmd in made:
            subprocess.run(cmd, capture_output=True, timeout=60)


def as_user(uid, gid, endpoint, *args, input=None):
    return subprocess.run(
        ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups",
         CTL, "--endpoint", endpoint, *args],
        input=input, capture_output=True, timeout=30)


def write_config(path, users, b_read=False, team_rule=False):
    text = (
        f"socket-group = {users['group']}\n"
        f"allow-gids = {users['gid']}\n"
        "[access.alice]\n"
        f"uid = {users['a']}\n"
        "namespaces = alice\n"
        "allow = read, write, delete, lock, secure\n")
    if b_read:
        text += ("[access.bob-reads-alice]\n"
                 f"uid = {users['b']}\n"
                 "namespaces = alice\n"
                 "allow = read\n")
    if team_rule:
        text += ("[access.team]\n"
                 f"gid = {users['team']}\n"
                 "namespaces = team\n"
                 "allow = read, write\n")
    with open(path + ".new", "w") as f:
        f.write(text)
    os.replace(path + ".new", path)


def wait_log(agent, text, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in agent.read_log():
            return
        time.sleep(0.02)
    raise AssertionError(f"no {text!r} in the agent log: {agent.read_log()}")


def assert_denied(r, op):
    assert r.returncode == EXIT_ERROR, r
    assert DENIED in r.stderr, r.stderr
    assert f'may not {op} in namespace "alice"'.encode() in r.stderr, r.stderr


def test_two_users_namespace_rules_and_reload(users):
    a = Agent(env={"CACHEKIT_MASTER_KEY": K1})
    os.chmod(a.dir, 0o755)  # both users must reach dir/run (the socket group's directory)
    cfg = os.path.join(a.dir, "agent.ini")
    write_config(cfg, users)
    a.args += ["--config", cfg]
    with a:
        ep, gid = a.endpoint, users["gid"]
        ua, ub = users["a"], users["b"]
        # A reads and writes its namespace, plain and with secure intent.
        assert as_user(ua, gid, ep, "--namespace", "alice", "set", "k", "v1").returncode == 0
        r = as_user(ua, gid, ep, "--namespace", "alice", "get", "k")
        assert r.returncode == EXIT_OK and r.stdout == b"v1", r
        r = as_user(ua, gid, ep, "--namespace", "alice", "--secure", "set", "s", "secret")
        assert r.returncode == EXIT_OK, r
        r = as_user(ua, gid, ep, "--namespace", "alice", "--secure", "get", "s")
        assert r.returncode == EXIT_OK and r.stdout == b"secret", r

        # B is refused every operation there, each with CK_EDENIED naming it.
        assert_denied(as_user(ub, gid, ep, "--namespace", "alice", "get", "k"), "read")
        assert_denied(as_user(ub, gid, ep, "--namespace", "alice", "set", "k", "x"), "write")
        assert_denied(as_user(ub, gid, ep, "--namespace", "alice", "del", "k"), "delete")
        assert_denied(as_user(ub, gid, ep, "--namespace", "alice", "--secure", "get", "s"),
                      "read with secure intent")
        assert_denied(as_user(ub, gid, ep, "--namespace", "alice", "lock", "l"), "lock")
        # Nothing B tried changed A's value.
        r = as_user(ua, gid, ep, "--namespace", "alice", "get", "k")
        assert r.returncode == EXIT_OK and r.stdout == b"v1", r

        # Grant B read and reload: B reads, still cannot write or decrypt.
        write_config(cfg, users, b_read=True)
        a.send_signal(signal.SIGHUP)
        wait_log(a, "reload: 2 access rule(s)")
        r = as_user(ub, gid, ep, "--namespace", "alice", "get", "k")
        assert r.returncode == EXIT_OK and r.stdout == b"v1", r
        assert_denied(as_user(ub, gid, ep, "--namespace", "alice", "set", "k", "x"), "write")
        assert_denied(as_user(ub, gid, ep, "--namespace", "alice", "--secure", "get", "s"),
                      "read with secure intent")
        assert "may not write" in a.read_log()

        # A file with a bad rule is refused as a whole: the running rules stay.
        with open(cfg, "a") as f:
            f.write("[access.broken]\nuid = 1\nnamespaces = alice\nallow = read, fly\n")
        a.send_signal(signal.SIGHUP)
        wait_log(a, "configuration has errors; keeping the running one")
        assert 'unknown right "fly"' in a.read_log()
        r = as_user(ub, gid, ep, "--namespace", "alice", "get", "k")
        assert r.returncode == EXIT_OK and r.stdout == b"v1", r


def test_a_gid_rule_matches_a_supplementary_group(users):
    """User c's primary group is the socket group; it is in team only as a supplementary
    group. A rule for gid team lets c read and write namespace team, whether c's process
    keeps its groups (--init-groups) or dropped them; b, not in team, is refused."""
    a = Agent()
    os.chmod(a.dir, 0o755)
    cfg = os.path.join(a.dir, "agent.ini")
    write_config(cfg, users, team_rule=True)
    a.args += ["--config", cfg]
    with a:
        ep, gid, uc, ub = a.endpoint, users["gid"], users["c"], users["b"]
        r = subprocess.run(["setpriv", f"--reuid={uc}", f"--regid={gid}", "--init-groups",
                            CTL, "--endpoint", ep, "--namespace", "team", "set", "k", "tv"],
                           capture_output=True, timeout=30)
        assert r.returncode == EXIT_OK, r
        r = as_user(uc, gid, ep, "--namespace", "team", "get", "k")
        assert r.returncode == EXIT_OK and r.stdout == b"tv", r
        # The rule grants read and write only, and only in team.
        r = as_user(uc, gid, ep, "--namespace", "team", "del", "k")
        assert r.returncode == EXIT_ERROR and b'may not delete in namespace "team"' in r.stderr, r
        r = as_user(uc, gid, ep, "--namespace", "alice", "get", "k")
        assert r.returncode == EXIT_ERROR and DENIED in r.stderr, r
        r = as_user(ub, gid, ep, "--namespace", "team", "get", "k")
        assert r.returncode == EXIT_ERROR and b'may not read in namespace "team"' in r.stderr, r


def test_allow_gids_matches_a_supplementary_group(users):
    """allow-gids names team only. c reaches the socket through the socket group and is in
    team as a supplementary group: let in, whether its process kept its groups or not. b, in
    the socket group but not in team, is refused at the door. A reload that drops team from
    allow-gids shuts c out too (the cached group lookup is forgotten)."""
    a = Agent()
    os.chmod(a.dir, 0o755)
    cfg = os.path.join(a.dir, "agent.ini")

    def write(gids):
        with open(cfg + ".new", "w") as f:
            f.write(f"socket-group = {users['group']}\nallow-gids = {gids}\n")
        os.replace(cfg + ".new", cfg)

    write(users["team_gid"])
    a.args += ["--config", cfg]
    with a:
        ep, gid, uc, ub = a.endpoint, users["gid"], users["c"], users["b"]
        r = as_user(uc, gid, ep, "set", "k", "v")
        assert r.returncode == EXIT_OK, r
        r = as_user(uc, gid, ep, "get", "k")
        assert r.returncode == EXIT_OK and r.stdout == b"v", r
        r = as_user(ub, gid, ep, "get", "k")
        assert r.returncode == EXIT_ERROR and b"not allowed to use the agent" in r.stderr, r

        write(f"{users['gid']}9")  # a gid nobody here has
        a.send_signal(signal.SIGHUP)
        wait_log(a, "reload: configuration:")
        r = as_user(uc, gid, ep, "get", "k")
        assert r.returncode == EXIT_ERROR and b"not allowed to use the agent" in r.stderr, r

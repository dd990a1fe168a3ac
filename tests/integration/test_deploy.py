# SPDX-License-Identifier: Apache-2.0
"""The deployment files against the real agent: the example config loads and holds the
defaults, the settings reference and the example list every setting of --help, the systemd unit
and the sidecar recipe use only known flags, and the socket-group privilege model works with
real users (a client outside the group is shut out, inside it is served, an allow list narrows
it further, and a non-root agent creates its socket directory for the group)."""
import grp
import importlib.util
import os
import pwd
import re
import secrets
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from harness import AGENT, CTL, Agent  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE_INI = os.path.join(ROOT, "deploy", "cachekit-agent.ini.example")
CONFIG_DOC = os.path.join(ROOT, "docs", "configuration.md")
UNIT = os.path.join(ROOT, "deploy", "systemd", "cachekit-agent.service")
POD = os.path.join(ROOT, "deploy", "container", "pod.yaml")
CONTAINERFILE = os.path.join(ROOT, "deploy", "container", "Containerfile")
PACKAGING = os.path.join(ROOT, "deploy", "debian", "packaging.cmake")
EXIT_OK, EXIT_ERROR, EXIT_TIMEOUT = 0, 3, 4

pytestmark = pytest.mark.skipif(not (AGENT and CTL), reason="CK_AGENT_BIN/CK_CTL_BIN not set")


def load_tool():
    path = os.path.join(ROOT, "deploy", "tools", "settings_from_help.py")
    spec = importlib.util.spec_from_file_location("settings_from_help", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


TOOL = load_tool()


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CACHEKIT_") and k != "CREDENTIALS_DIRECTORY"}
    env.update(extra)
    return env


def run_agent(*args, env=None):
    return subprocess.run([AGENT, *args], capture_output=True, text=True, timeout=30,
                          env=env or clean_env())


@pytest.fixture(scope="module")
def flags():
    out = run_agent("--help")
    assert out.returncode == 0
    parsed = TOOL.parse_help(out.stdout)
    # The parser must see the table, not an empty or truncated list.
    names = [f.name for f in parsed]
    assert {"endpoint", "upstream", "socket-group", "check-config", "config"} <= set(names)
    assert len([f for f in parsed if f.setting]) >= 20
    return parsed


# ---- (a) the example config ------------------------------------------------------------------

def effective(out):
    """--check-config output as {name: value}, without the line naming the file."""
    lines = [ln for ln in out.splitlines() if " = " in ln and not ln.startswith("config-file")]
    return dict(ln.split(" = ", 1) for ln in lines)


def test_example_ini_is_accepted_and_holds_the_defaults():
    with_file = run_agent("--config", EXAMPLE_INI, "--check-config")
    assert with_file.returncode == 0, with_file.stderr
    assert "configuration ok" in with_file.stdout
    assert f"config-file = {EXAMPLE_INI}" in with_file.stdout
    defaults = run_agent("--check-config")
    assert defaults.returncode == 0, defaults.stderr
    # Every value the example sets is the built-in default, so the file documents them.
    assert effective(with_file.stdout) == effective(defaults.stdout)


def test_example_ini_with_a_wrong_value_is_refused(tmp_path):
    # The check above is only worth something if the agent does read the file.
    bad = tmp_path / "bad.ini"
    bad.write_text(open(EXAMPLE_INI).read().replace("timeout = 5", "timeout = soon"))
    out = run_agent("--config", str(bad), "--check-config")
    assert out.returncode == 2
    assert "timeout must be a positive number of seconds" in out.stderr


# ---- (b) the reference and the example list every setting --------------------------------------

def ini_entries():
    """{key: value or None when commented out} of the example file."""
    entries = {}
    for line in open(EXAMPLE_INI):
        m = re.match(r"^(;?)([a-z][a-z0-9-]*) =(?: (.*))?$", line.rstrip("\n"))
        if m:
            entries[m.group(2)] = None if m.group(1) else (m.group(3) or "")
    return entries


def doc_rows():
    """{flag name: (env, default)} from the settings table of docs/configuration.md."""
    rows = {}
    for line in open(CONFIG_DOC):
        m = re.match(r"^\| `--([a-z0-9-]+)(?: [A-Z]+)?` \| (.*?) \| (.*?) \| .* \|$", line)
        if m:
            rows[m.group(1)] = (m.group(2), m.group(3))
    return rows


def test_every_flag_of_help_is_in_the_configuration_reference(flags):
    doc = open(CONFIG_DOC).read()
    rows = doc_rows()
    for f in flags:
        assert f"`--{f.name}" in doc, f"--{f.name} missing from docs/configuration.md"
        assert f.name in rows, f"--{f.name} has no row in the settings table"
        env, default = rows[f.name]
        assert env == (f"`{f.env}`" if f.env else "-"), f"--{f.name}: environment differs"
        if f.default is not None:
            assert default == f"`{f.default}`", f"--{f.name}: default differs"
    assert set(rows) == {f.name for f in flags}, "the table lists a flag --help does not"


def test_every_setting_of_help_is_in_the_example_ini(flags):
    entries = ini_entries()
    for f in flags:
        if not f.setting:
            continue
        assert f.name in entries, f"{f.name} missing from {EXAMPLE_INI}"
        if f.default is not None:
            assert entries[f.name] == f.default, f"{f.name}: example value is not the default"
    assert set(entries) == {f.name for f in flags if f.setting}


# ---- (c) the unit and the container recipes use known flags ------------------------------------

def unit_exec_start():
    lines = [ln for ln in open(UNIT) if ln.startswith("ExecStart=")]
    assert len(lines) == 1
    argv = shlex.split(lines[0][len("ExecStart="):])
    assert argv[0].endswith("/cachekit-agent")
    return argv[1:]


def flag_names(argv):
    return [a[2:].split("=", 1)[0] for a in argv if a.startswith("--")]


def test_unit_exec_start_flags_are_known_and_valid(flags):
    known = {f.name for f in flags}
    args = unit_exec_start()
    used = flag_names(args)
    assert "socket-group" in used and "config" in used
    assert set(used) <= known, f"unknown flags in ExecStart: {set(used) - known}"
    # The same command line passes --check-config (with the example as its config file).
    i = args.index("--config")
    args[i + 1] = EXAMPLE_INI
    out = run_agent(*args, "--check-config")
    assert out.returncode == 0, out.stderr
    assert "socket-group = cachekit-clients" in out.stdout


def test_sidecar_recipes_use_known_flags(flags):
    known = {f.name for f in flags}
    pod_args = re.findall(r"^\s+- --([a-z][a-z0-9-]*)$", open(POD).read(), re.M)
    assert "socket-group" in pod_args and "endpoint" in pod_args
    cmd = re.search(r"^CMD (\[.*\])$", open(CONTAINERFILE).read(), re.M)
    docker_args = re.findall(r'"--([a-z][a-z0-9-]*)"', cmd.group(1))
    assert docker_args == ["endpoint", "socket-group"]
    assert set(pod_args) | set(docker_args) <= known


# ---- the Containerfile, statically (no container engine here; ck.integration.packages replays
# its runtime stage in a Debian chroot) ----------------------------------------------------------

def containerfile_stages():
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import containerfile  # noqa: E402
    return containerfile, containerfile.parse(CONTAINERFILE)


def test_containerfile_is_multi_stage_on_debian_slim_and_copies_what_exists():
    cf, stages = containerfile_stages()
    assert len(stages) == 2 and stages[0]["name"] == "build"
    assert all(s["from"] == "debian:bookworm-slim" for s in stages)
    for s in stages:
        for arg in cf.values(s, "COPY"):
            if arg.startswith("--from="):
                continue
            sources = arg.split()[:-1]
            assert sources
            for src in sources:
                assert os.path.exists(os.path.join(ROOT, src)), f"COPY source {src} missing"
    runtime_copies = [a for a in cf.values(stages[1], "COPY")]
    assert runtime_copies == ["--from=build /debs/ /tmp/debs/"], runtime_copies
    assert any("cpack -G DEB -B /debs" in r for r in cf.values(stages[0], "RUN"))


def test_containerfile_runtime_runs_non_root_with_the_units_model():
    cf, stages = containerfile_stages()
    rt = stages[1]
    user = cf.values(rt, "USER")[-1]
    assert user.split(":")[0] not in ("0", "root") and user.split(":")[0].isdigit()
    runs = " ".join(cf.values(rt, "RUN"))
    uid = user.split(":")[0]
    assert f"useradd --uid {uid} " in runs and "--groups cachekit-clients" in runs
    assert "install -d -m 0750 -o cachekit -g cachekit-clients /run/cachekit" in runs
    assert cf.values(rt, "VOLUME") == ["/run/cachekit"]
    unit = open(UNIT).read()
    assert "User=cachekit" in unit and "SupplementaryGroups=cachekit-clients" in unit
    assert "RuntimeDirectory=cachekit" in unit and "RuntimeDirectoryMode=0750" in unit
    # The same endpoint and socket group as the unit's ExecStart.
    exec_start = re.search(r"^ExecStart=(.*)$", unit, re.M).group(1)
    cmd = " ".join(__import__("json").loads(cf.values(rt, "CMD")[-1]))
    assert cmd in exec_start, (cmd, exec_start)
    env = cf.values(rt, "ENV")
    assert env == ["CACHEKIT_AGENT_ENDPOINT=ipc:///run/cachekit/agent.sock"]
    assert cf.values(rt, "STOPSIGNAL") == ["SIGTERM"] and "KillSignal=SIGTERM" in unit
    health = cf.values(rt, "HEALTHCHECK")[-1]
    assert '["cachekit-ctl", "--timeout", "2000", "health"]' in health
    assert cf.values(rt, "ENTRYPOINT") == ['["cachekit-agent"]']


def test_containerfile_installs_the_packages_cpack_makes():
    cf, stages = containerfile_stages()
    names = dict(re.findall(r"^set\(CPACK_DEBIAN_([A-Z]+)_PACKAGE_NAME (\S+)\)$",
                            open(PACKAGING).read(), re.M))
    assert names["AGENT"] == "cachekit-agent" and names["LIB"] == "libcachekit-stub0"
    runs = " ".join(cf.values(stages[1], "RUN"))
    installed = re.findall(r"/tmp/debs/([a-z0-9.+-]+)_\*\.deb", runs)
    assert installed == [names["AGENT"], names["LIB"]], installed
    assert "apt-get install -y --no-install-recommends" in runs
    assert "rm -rf /var/lib/apt/lists/* /tmp/debs" in runs


def test_pod_matches_the_image():
    pod = open(POD).read()
    cf, stages = containerfile_stages()
    uid, gid = cf.values(stages[1], "USER")[-1].split(":")
    assert "runAsNonRoot: true" in pod and f"runAsUser: {uid}" in pod
    assert "supplementalGroups: [10002]" in pod and "groupadd --gid 10002 cachekit-clients" in \
        " ".join(cf.values(stages[1], "RUN"))
    agent = pod[pod.index("- name: cachekit-agent"):pod.index("- name: app\n")]
    assert "readOnlyRootFilesystem: true" in agent and "allowPrivilegeEscalation: false" in agent
    assert "mountPath: /run/cachekit" in agent
    run_vol = pod[pod.index("- name: cachekit-run"):pod.index("- name: cachekit-secret")]
    assert "emptyDir:" in run_vol


# ---- (d), (e), (f): real users and groups (root only) -----------------------------------------

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or not all(shutil.which(t) for t in
                                 ("groupadd", "useradd", "usermod", "gpasswd", "runuser",
                                  "setpriv")),
    reason="needs root and groupadd/useradd/usermod/gpasswd/runuser/setpriv")


def admin(*cmd):
    """Runs a user-database command, retrying while another process holds its lock."""
    deadline = time.monotonic() + 60  # other processes may hold the lock for a while
    while True:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        if r.returncode == 0:
            return
        if "lock" not in r.stderr or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    raise RuntimeError(f"{' '.join(cmd)} failed: {r.stderr}")


@pytest.fixture(scope="module")
def ids():
    """A temporary group G and user U (not in G); removed at the end."""
    suffix = secrets.token_hex(3)
    group, user = f"ckdg{suffix}", f"ckdu{suffix}"
    admin("groupadd", group)
    try:
        admin("useradd", "--no-create-home", "--no-user-group", "--gid", "users",
              "--shell", "/usr/sbin/nologin", user)
    except Exception:
        admin("groupdel", group)
        raise
    try:
        yield user, group
    finally:
        subprocess.run(["userdel", user], capture_output=True, timeout=30)
        subprocess.run(["groupdel", group], capture_output=True, timeout=30)


@pytest.fixture
def bindir():
    """The binaries copied into a directory every user may enter (the build tree may not be)."""
    d = tempfile.mkdtemp(prefix="ck-deploy-bin-")
    os.chmod(d, 0o755)
    for src in (AGENT, CTL):
        shutil.copy2(src, d)
    yield os.path.join(d, os.path.basename(AGENT)), os.path.join(d, os.path.basename(CTL))
    shutil.rmtree(d, ignore_errors=True)


def open_workdir():
    """A harness workdir that other users may traverse (mkdtemp makes it 0700)."""
    d = tempfile.mkdtemp(prefix="ck-deploy-")
    os.chmod(d, 0o755)
    return d


def ctl_as(user, ctl, endpoint, *args, timeout_ms=30000):
    return subprocess.run(["runuser", "-u", user, "--", ctl, "--endpoint", endpoint,
                           "--timeout", str(timeout_ms), *args], capture_output=True, timeout=90)


@needs_root
def test_socket_group_owns_socket_directory_and_socket(ids):
    _, group = ids
    gid = grp.getgrnam(group).gr_gid
    with Agent("--socket-group", group, workdir=open_workdir()) as agent:
        sock = agent.endpoint[len("ipc://"):]
        d = os.stat(os.path.dirname(sock))
        assert stat.S_IMODE(d.st_mode) == 0o750 and d.st_gid == gid
        s = os.stat(sock)
        assert stat.S_ISSOCK(s.st_mode)
        assert stat.S_IMODE(s.st_mode) == 0o660 and s.st_gid == gid
        lock = os.stat(sock + ".lock")
        assert stat.S_IMODE(lock.st_mode) == 0o600


@needs_root
def test_client_outside_the_socket_group_is_shut_out_until_it_joins(ids, bindir):
    user, group = ids
    _, ctl = bindir
    with Agent("--socket-group", group, workdir=open_workdir()) as agent:
        # No access to the socket: ZeroMQ keeps retrying, so this ends as a timeout.
        out = ctl_as(user, ctl, agent.endpoint, "health", timeout_ms=700)
        assert out.returncode in (EXIT_ERROR, EXIT_TIMEOUT), out
        assert b"timed out" in out.stderr or b"ermission denied" in out.stderr, out.stderr
        admin("usermod", "--append", "--groups", group, user)
        try:
            out = ctl_as(user, ctl, agent.endpoint, "health")
            assert out.returncode == EXIT_OK, out.stderr
            assert b"healthy: true" in out.stdout
        finally:
            admin("gpasswd", "--delete", user, group)


@needs_root
def test_allow_list_refuses_a_group_member_with_a_clear_error(ids, bindir):
    user, group = ids
    _, ctl = bindir
    uid = pwd.getpwnam(user).pw_uid
    admin("usermod", "--append", "--groups", group, user)
    try:
        # Only root may use this agent, even though the user can reach the socket.
        with Agent("--socket-group", group, "--allow-uids", "0",
                   workdir=open_workdir()) as agent:
            out = ctl_as(user, ctl, agent.endpoint, "health")
            assert out.returncode == EXIT_ERROR
            assert b"not allowed" in out.stderr
            assert f"denied request from uid {uid}" in agent.read_log()
        with Agent("--socket-group", group, "--allow-uids", f"0,{uid}",
                   workdir=open_workdir()) as agent:
            assert ctl_as(user, ctl, agent.endpoint, "health").returncode == EXIT_OK
    finally:
        admin("gpasswd", "--delete", user, group)


@needs_root
def test_unprivileged_agent_in_the_group_serves_it_with_credential_files(ids, bindir):
    """The sidecar/systemd shape: a non-root agent that is a member of the socket group
    creates its socket directory 0750 for that group inside a world-writable volume, and reads
    its master key from $CREDENTIALS_DIRECTORY (owner-only file)."""
    user, group = ids
    agent_bin, ctl = bindir
    pw = pwd.getpwnam(user)
    gid = grp.getgrnam(group).gr_gid
    work = open_workdir()
    admin("usermod", "--append", "--groups", group, user)
    proc = None
    try:
        shared = os.path.join(work, "shared")  # the emptyDir: 0777
        os.mkdir(shared)
        os.chmod(shared, 0o777)
        creds = os.path.join(work, "credentials")
        os.mkdir(creds, 0o500)
        key = os.path.join(creds, "cachekit_master_key")
        with open(key, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
        os.chmod(key, 0o400)
        os.chown(key, pw.pw_uid, pw.pw_gid)
        os.chown(creds, pw.pw_uid, pw.pw_gid)
        endpoint = f"ipc://{shared}/agent/agent.sock"
        env = clean_env(CREDENTIALS_DIRECTORY=creds)
        # setpriv execs the agent itself (runuser would stay in between and turn the agent's
        # clean exit after SIGTERM into its own death by that signal).
        argv = ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--init-groups",
                "--", agent_bin, "--endpoint", endpoint, "--socket-group", group]

        # A world-readable credential is refused before anything is served.
        os.chmod(key, 0o444)
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=env)
        assert r.returncode == 2
        assert "accessible by group or others" in r.stderr
        os.chmod(key, 0o400)

        log_path = os.path.join(work, "agent.log")
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(argv, stdout=log, stderr=log, env=env)
        deadline = time.monotonic() + 30
        while "ready: serving" not in open(log_path).read():
            assert proc.poll() is None, open(log_path).read()
            assert time.monotonic() < deadline, open(log_path).read()
            time.sleep(0.02)
        assert "keyring: 1 key(s)" in open(log_path).read()
        d = os.stat(os.path.join(shared, "agent"))
        assert stat.S_IMODE(d.st_mode) == 0o750
        assert (d.st_uid, d.st_gid) == (pw.pw_uid, gid)
        s = os.stat(os.path.join(shared, "agent", "agent.sock"))
        assert stat.S_IMODE(s.st_mode) == 0o660 and s.st_gid == gid
        out = ctl_as(user, ctl, endpoint, "health")
        assert out.returncode == EXIT_OK, out.stderr
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        proc = None
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()
        admin("gpasswd", "--delete", user, group)
        shutil.rmtree(work, ignore_errors=True)

# SPDX-License-Identifier: Apache-2.0
"""Issue 14 items 1-5 end to end: a real agent (and cachekit-ctl) against ck-fakeapi in the
modes that make a server answer the way the SDKs were checked against: no lock routes, a
health page that is not JSON, Retry-After as a date, {"ttl":0}, a release of an expired lease,
an API key with trailing whitespace, a lock wait that must last its full length. Also the
count of API-key copies in the agent's memory (issue 11 item 5, docs/security-apikey.md)."""
import os
import subprocess
import sys
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fakeapi"))
sys.path.insert(0, HERE)
from fakeapi import FakeApi  # noqa: E402
from harness import AGENT, Agent, RawClient, pb  # noqa: E402
from test_secure import _process_memory  # noqa: E402

pytestmark = pytest.mark.skipif(not (AGENT and os.environ.get("CK_FAKEAPI")),
                                reason="CK_AGENT_BIN / CK_FAKEAPI not set")

CK_EINVAL, CK_ENOTSUP, CK_EUPSTREAM = 1, 7, 11
CTL = os.environ.get("CK_CTL_BIN")
EXIT_CONTESTED = 5
API_KEY = "ck_sdk_test"


@pytest.fixture(scope="module")
def api():
    with FakeApi() as a:
        yield a


def agent_for(api, *args, env=None, key=API_KEY):
    e = {"CACHEKIT_API_KEY": key}
    e.update(env or {})
    return Agent("--upstream", api.url, "--resolve", api.resolve, "--ca-file", api.ca, *args,
                 env=e)


@pytest.fixture
def up(api):
    api.reset()
    with agent_for(api) as a, RawClient(a.endpoint, 10000) as c:
        yield api, a, c


def lock_posts(api):
    return [r for r in api.requests() if r["method"] == "POST" and r["path"].endswith("/lock")]


@pytest.mark.parametrize("mode,status,word", [("404", CK_ENOTSUP, "404"),
                                              ("405", CK_ENOTSUP, "405"),
                                              ("400", CK_EINVAL, "400")])
def test_a_server_without_lock_routes_is_an_error_and_not_polled(up, mode, status, word):
    api, _, c = up
    api.faults(lock_routes=mode)
    r = c.call(acquire_lock=pb().AcquireLockRequest(name="nolock", lease_ms=5000, wait_ms=3000))
    assert r.status == status, r.message
    assert word in r.message and "held" not in r.message
    assert len(lock_posts(api)) == 1  # a permanent answer: the wait does not poll again


def test_409_is_still_contested(up):
    api, _, c = up
    api.faults(lock_contested="409")
    assert c.call(acquire_lock=pb().AcquireLockRequest(name="l409")).acquire_lock.acquired
    r = c.call(acquire_lock=pb().AcquireLockRequest(name="l409", wait_ms=300))
    assert r.status == 0 and not r.acquire_lock.acquired
    assert len(lock_posts(api)) >= 2  # contested: polled while the wait lasted


def test_a_lock_wait_lasts_its_full_length(up):
    api, a, c = up
    assert c.call(acquire_lock=pb().AcquireLockRequest(name="busy",
                                                       lease_ms=60000)).acquire_lock.acquired
    t0 = time.monotonic()
    r = c.call(acquire_lock=pb().AcquireLockRequest(name="busy", lease_ms=5000, wait_ms=2000))
    assert r.status == 0 and not r.acquire_lock.acquired
    assert time.monotonic() - t0 >= 2.0
    if CTL:  # the CLI the issue measured: `lock --wait 2000` waits the full 2 s
        t0 = time.monotonic()
        p = subprocess.run([CTL, "--endpoint", a.endpoint, "lock", "busy", "--wait", "2000",
                            "--", "true"], capture_output=True, timeout=60)
        assert p.returncode == EXIT_CONTESTED, p.stderr
        assert time.monotonic() - t0 >= 2.0


def test_release_of_an_expired_lease_reads_not_released(up):
    api, _, c = up
    api.faults(unlock_wrong="404")
    lk = c.call(acquire_lock=pb().AcquireLockRequest(name="exp", lease_ms=1000)).acquire_lock
    assert lk.acquired
    api.advance_clock(5)  # the lease ran out on the server
    r = c.call(release_lock=pb().ReleaseLockRequest(handle=lk.handle))
    assert r.status == 0 and r.release_lock.released is False
    lk = c.call(acquire_lock=pb().AcquireLockRequest(name="exp", lease_ms=60000)).acquire_lock
    r = c.call(release_lock=pb().ReleaseLockRequest(handle=lk.handle))
    assert r.status == 0 and r.release_lock.released is True


def test_a_health_page_that_is_not_json_is_unhealthy(up):
    api, _, c = up
    api.faults(health_shape="text")
    h = c.call(health=pb().HealthRequest()).health
    assert not h.healthy and h.error_type == "CK_EUPSTREAM" and "not JSON" in h.error
    api.faults(health_shape="new")
    assert c.call(health=pb().HealthRequest()).health.healthy


def test_ttl_zero_reads_as_absent_and_null_as_no_expiry(api):
    api.reset()
    # default-ttl 0: a Set without a TTL stores an entry that never expires (PRE-4's opt-out).
    with agent_for(api, "--default-ttl", "0") as a, RawClient(a.endpoint, 10000) as c:
        assert c.call(set=pb().SetRequest(key="z", value=b"v", ttl_s=60)).status == 0
        assert c.call(set=pb().SetRequest(key="forever", value=b"v")).status == 0
        api.faults(ttl_zero=True)
        t = c.call(get_ttl=pb().GetTtlRequest(key="z")).get_ttl
        assert not t.found and t.ttl_s == -1
        t = c.call(get_ttl=pb().GetTtlRequest(key="forever")).get_ttl
        assert t.found and t.ttl_s == -1


def test_retry_after_as_a_date_is_honoured(up):
    api, _, c = up
    api.faults(fail_next=[503], retry_after=3, retry_after_form="date")
    t0 = time.monotonic()
    r = c.call(get=pb().GetRequest(key="ra"))
    assert r.status == 0
    assert time.monotonic() - t0 >= 0.95  # 2-3 s by the date, not the 100 ms backoff
    assert len(api.requests()) == 2


@pytest.mark.parametrize("value", ["ck_sdk_test\n", "ck_sdk_test ", "ck_sdk_test\r\n"])
def test_an_api_key_with_trailing_whitespace_is_refused(api, value):
    a = agent_for(api, key=value)
    with pytest.raises(RuntimeError) as e:
        a.start()
    try:
        assert "ends with whitespace" in str(e.value)
        assert "ck_sdk_test" not in a.read_log()  # the key itself is never logged
    finally:
        a.stop()
        a.log.close()
        import shutil  # noqa: PLC0415
        shutil.rmtree(a.dir, ignore_errors=True)


def test_a_key_file_may_end_with_one_newline(api):
    """A text file's final newline is the file's, not the key's (documented difference)."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "key")
        with open(path, "w") as f:
            f.write(API_KEY + "\n")
        os.chmod(path, 0o600)
        with agent_for(api, env={"CACHEKIT_API_KEY_FILE": path}, key="") as a, \
                RawClient(a.endpoint) as c:
            assert c.call(health=pb().HealthRequest()).health.healthy


def test_api_key_copies_in_agent_memory():
    """Counts the API key in every readable mapping of the agent after real traffic (both
    HTTP/2 and the secure heap are scanned). The figure is documented in
    docs/security-apikey.md; the bound keeps it from growing unnoticed."""
    key = "ck_sdk_" + os.urandom(16).hex()  # random: cannot occur in memory by chance
    with FakeApi(api_keys=[key]) as fake, agent_for(fake, key=key) as a, \
            RawClient(a.endpoint, 10000) as c:
        for i in range(200):
            assert c.call(set=pb().SetRequest(key=f"k{i}", value=b"v" * 100)).status == 0
            assert c.call(get=pb().GetRequest(key=f"k{i}")).status == 0
        mem = _process_memory(a.proc.pid)
        with open(f"/proc/{a.proc.pid}/maps") as maps:
            asan = "libasan" in maps.read()
        copies = mem.count(key.encode())
        bearer = mem.count(b"Bearer " + key.encode())
        print(f"API key copies in agent memory: {copies} ({bearer} as 'Bearer <key>')")
        assert copies >= 1  # the scan does see the agent's own copy
        if asan:  # ASan's quarantine keeps every freed block, nghttp2's copies included
            pytest.skip(f"under AddressSanitizer freed memory is not reused ({copies} copies)")
        assert copies <= 4, copies

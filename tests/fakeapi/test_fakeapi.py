# SPDX-License-Identifier: Apache-2.0
"""ck.integration.fakeapi: ck-fakeapi behaves as spec §2/§4 says, over h2 (curl CLI) and
HTTP/1.1 (Python ssl + http.client), and its faults, clock, recording and control endpoint
do what the agent's tests rely on.

Run: CK_FAKEAPI=<build>/tests/fakeapi/ck-fakeapi CK_TEST_CERTS=<build>/tests/certs \
     /usr/bin/python3 -m pytest tests/fakeapi/test_fakeapi.py
"""

import collections
import http.client
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import tempfile
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fakeapi import FakeApi  # noqa: E402

SDK = "ck_sdk_test"
API = "ck_api_test"
LIVE = "ck_live_test"
BOGUS = "ck_bogus_test"  # configured, but not a prefix the server accepts
KEYS = [SDK, API, LIVE, BOGUS]
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")

Resp = collections.namedtuple("Resp", "status version headers body rc")


@pytest.fixture(scope="module")
def server():
    api = FakeApi(api_keys=KEYS, args=["--max-value", "1000", "--seed", "7"])
    api.start()
    yield api
    assert api.stop() == 0  # SIGTERM is a clean exit


@pytest.fixture
def api(server):
    server.reset()
    server.freeze_clock()  # TTLs read back as written, however slow the machine is
    return server


def auth_headers(key, l1):
    h = {}
    if key is not None:
        h["Authorization"] = "Bearer " + key
    if l1 is not None:
        h["X-CacheKit-L1-Status"] = l1
    return h


def curl(api, method, path, headers=None, data=None, key=SDK, l1="miss", http="--http2",
         extra=(), timeout=20):
    """One request with the curl CLI; h2 unless told otherwise."""
    hdrs = auth_headers(key, l1)
    hdrs.update(headers or {})
    with tempfile.TemporaryDirectory() as d:
        hfile, bfile = os.path.join(d, "h"), os.path.join(d, "b")
        cmd = ["curl", "-s", http, "--cacert", api.ca, "--resolve", api.resolve,
               "-D", hfile, "-o", bfile, "-w", "%{http_code} %{http_version}"]
        cmd += ["-I"] if method == "HEAD" else ["-X", method]
        for k, v in hdrs.items():
            cmd += ["-H", "%s: %s" % (k, v)]
        if data is not None:
            dfile = os.path.join(d, "data")
            with open(dfile, "wb") as f:
                f.write(data)
            cmd += ["--data-binary", "@" + dfile]
        cmd += list(extra) + [api.url + path]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        code, _, version = p.stdout.partition(" ")
        headers = {}
        if os.path.exists(hfile):
            with open(hfile, encoding="latin-1", newline="") as f:
                block = f.read().strip().split("\r\n\r\n")[-1]
            for line in block.split("\r\n")[1:]:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
        body = None  # curl -I writes the headers to -o: the body is not observable
        if method != "HEAD" and os.path.exists(bfile):
            with open(bfile, "rb") as f:
                body = f.read()
        return Resp(int(code or 0), version, headers, body, p.returncode)


def h1_conn(api, timeout=10, alpn=("http/1.1",)):
    ctx = ssl.create_default_context(cafile=api.ca)
    if alpn is not None:
        ctx.set_alpn_protocols(list(alpn))
    return http.client.HTTPSConnection("127.0.0.1", api.port, context=ctx, timeout=timeout)


def h1(api, method, path, headers=None, body=None, key=SDK, l1="miss", conn=None):
    """One HTTP/1.1 request (on `conn` if given, so keep-alive can be observed)."""
    own = conn is None
    conn = conn or h1_conn(api)
    hdrs = auth_headers(key, l1)
    hdrs.update(headers or {})
    try:
        conn.request(method, path, body=body, headers=hdrs)
        r = conn.getresponse()
        data = r.read()
        return Resp(r.status, "1.1", {k.lower(): v for k, v in r.getheaders()}, data, 0)
    finally:
        if own:
            conn.close()


def put(api, key_path, value, ttl=None, stale=None, key=SDK):
    headers = {"Content-Type": "application/octet-stream"}
    if ttl is not None:
        headers["X-CacheKit-TTL"] = str(ttl)
    if stale is not None:
        headers["X-CacheKit-Stale-TTL"] = str(stale)
    return h1(api, "PUT", "/v1/cache/" + key_path, headers, value, key=key)


# ---- transport ----------------------------------------------------------------------------

def test_h2_is_negotiated_and_counted(api):
    r = curl(api, "GET", "/v1/cache/health")
    assert (r.status, r.version) == (200, "2")
    s = api.stats()
    assert s["tls_handshakes"] == 1 and s["h2_connections"] == 1 and s["requests"] == 1
    assert api.requests()[0]["proto"] == "h2"


def test_http11_keep_alive_and_no_alpn(api):
    conn = h1_conn(api)
    assert h1(api, "GET", "/v1/cache/health", conn=conn).status == 200
    assert conn.sock.version().startswith("TLS")
    assert conn.sock.selected_alpn_protocol() == "http/1.1"
    assert h1(api, "GET", "/v1/cache/missing", conn=conn).status == 404
    conn.close()
    assert h1(api, "GET", "/v1/cache/health", conn=h1_conn(api, alpn=None)).status == 200
    recs = api.requests()
    assert [r["proto"] for r in recs] == ["http/1.1"] * 3
    assert recs[0]["conn"] == recs[1]["conn"] != recs[2]["conn"]
    s = api.stats()
    assert s["connections_accepted"] == 2 and s["h1_connections"] == 2


def test_chunked_upload_is_refused(api):
    conn = h1_conn(api)
    conn.putrequest("PUT", "/v1/cache/k")
    for k, v in auth_headers(SDK, "miss").items():
        conn.putheader(k, v)
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders(b"5\r\nhello\r\n0\r\n\r\n")
    assert conn.getresponse().status == 411
    conn.close()


def raw_h1(api, data, tls=True, port=None, piece=None):
    """Send raw bytes on one HTTP/1.1 connection (TLS API port, or the plain control port; in
    writes of `piece` bytes if given) and read until the server closes it; returns
    [(status, headers dict, body)] in order."""
    sock = socket.create_connection(("127.0.0.1", port or api.port), timeout=30)
    if tls:
        ctx = ssl.create_default_context(cafile=api.ca)
        ctx.set_alpn_protocols(["http/1.1"])
        sock = ctx.wrap_socket(sock, server_hostname="localhost")
    with sock:
        step = piece or len(data)
        for i in range(0, len(data), step):
            sock.sendall(data[i:i + step])
        got = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            got += chunk
    out = []
    while got:
        head, sep, got = got.partition(b"\r\n\r\n")
        assert sep, "truncated response head %r" % head
        lines = head.decode("latin-1").split("\r\n")
        hdrs = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
        n = int(hdrs.get("content-length", "0"))
        out.append((int(lines[0].split(" ")[1]), hdrs, got[:n]))
        got = got[n:]
    return out


def h1_head(method, path, extra=b"", key=SDK):
    return (b"%s %s HTTP/1.1\r\nHost: api.cachekit.io\r\nAuthorization: Bearer %s\r\n"
            b"X-CacheKit-L1-Status: miss\r\n%s\r\n" % (method, path, key.encode(), extra))


@pytest.mark.parametrize("request_bytes,status", [
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET /v1/cache/health\r\n\r\n", 400),
    (b"GET /v1/cache/health HTTP/2.0\r\nHost: x\r\n\r\n", 505),
    (b"GET /v1/cache/health HTTP/1.1\r\nBad Name: x\r\n\r\n", 400),
    (b"GET /v1/cache/health HTTP/1.1\r\nNoColon\r\n\r\n", 400),
    (b"GET /v1/cache/health HTTP/1.1\r\nX-Fold: a\r\n b\r\n\r\n", 400),
    (b"GET /v1/cache/health HTTP/1.1\r\nX-A: a\x00b\r\n\r\n", 400),
    (b"GET /" + b"k" * 9000 + b" HTTP/1.1\r\n\r\n", 414),
    (b"GET /v1/cache/health HTTP/1.1\r\nX-Big: " + b"v" * 17000 + b"\r\n\r\n", 431),
    (b"GET /v1/cache/health HTTP/1.1\r\n" + b"X-N: 1\r\n" * 101 + b"\r\n", 431),
    (h1_head(b"PUT", b"/v1/cache/k", b"Content-Length: abc\r\n"), 400),
    (h1_head(b"PUT", b"/v1/cache/k", b"Content-Length: -1\r\n"), 400),
    (h1_head(b"PUT", b"/v1/cache/k", b"Content-Length: \r\n"), 400),
    (h1_head(b"PUT", b"/v1/cache/k", b"Content-Length: 1234567890123456789\r\n"), 400),
    (h1_head(b"PUT", b"/v1/cache/k", b"Content-Length: 1\r\nContent-Length: 2\r\n") + b"vv",
     400),
    (h1_head(b"PUT", b"/v1/cache/k", b"Transfer-Encoding: chunked\r\nContent-Length: 1\r\n"),
     411),
])
def test_malformed_requests_are_answered_and_closed(api, request_bytes, status):
    (got,) = raw_h1(api, request_bytes)  # one answer, then the server closes
    assert got[0] == status and got[1]["connection"] == "close"
    assert json.loads(got[2])["error"]  # {"error": "<reason phrase>"}
    assert api.entry("k") is None and api.requests() == []  # never reached the API


def test_malformed_control_request_is_answered_and_closed(api):
    (got,) = raw_h1(api, b"GET /stats HTTP/9.9\r\n\r\n", tls=False, port=api.control_port)
    assert got[0] == 505 and got[1]["connection"] == "close"
    big = b"POST /faults HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % (64 * 1024 + 1)
    (got,) = raw_h1(api, big, tls=False, port=api.control_port)
    assert got[0] == 413 and got[1]["connection"] == "close"


@pytest.mark.parametrize("piece", [None, 3])
def test_pipelined_requests_are_answered_in_order(api, piece):
    api.faults(latency_ms=20)  # later requests wait in the input while a response is pending
    data = (h1_head(b"PUT", b"/v1/cache/p", b"Content-Length: 5\r\n") + b"hello" +
            h1_head(b"GET", b"/v1/cache/p") +
            h1_head(b"GET", b"/v1/cache/missing") +
            h1_head(b"PUT", b"/v1/cache/q", b"Content-Length: 0\r\n") +
            h1_head(b"GET", b"/v1/cache/q", b"X-Long: %s\r\nConnection: close\r\n" % (b"w" * 9000)))
    got = raw_h1(api, data, piece=piece)  # 3: every line and value split across reads
    assert [g[0] for g in got] == [200, 200, 404, 200, 200]
    assert got[1][2] == b"hello" and got[4][2] == b"" and got[4][1]["connection"] == "close"
    assert [r["method"] + " " + r["path"] for r in api.requests()] == [
        "PUT /v1/cache/p", "GET /v1/cache/p", "GET /v1/cache/missing", "PUT /v1/cache/q",
        "GET /v1/cache/q"]


def test_http10_closes_unless_keep_alive(api):
    (got,) = raw_h1(api, b"GET /v1/cache/health HTTP/1.0\r\nAuthorization: Bearer ck_sdk_test\r\n"
                         b"X-CacheKit-L1-Status: miss\r\n\r\n")
    assert got[0] == 200 and got[1]["connection"] == "close"
    keep = (b"GET /v1/cache/health HTTP/1.0\r\nConnection: keep-alive\r\n"
            b"Authorization: Bearer ck_sdk_test\r\nX-CacheKit-L1-Status: miss\r\n\r\n")
    got = raw_h1(api, keep + h1_head(b"GET", b"/v1/cache/health", b"Connection: close\r\n"))
    assert [g[0] for g in got] == [200, 200] and "connection" not in got[0][1]


def test_expect_100_continue(api):
    ctx = ssl.create_default_context(cafile=api.ca)
    ctx.set_alpn_protocols(["http/1.1"])
    with ctx.wrap_socket(socket.create_connection(("127.0.0.1", api.port), timeout=30),
                         server_hostname="localhost") as sock:
        sock.sendall(h1_head(b"PUT", b"/v1/cache/e",
                             b"Expect: 100-continue\r\nContent-Length: 3\r\nConnection: close\r\n"))
        got = b""
        while b"\r\n\r\n" not in got:
            chunk = sock.recv(4096)
            assert chunk, "closed before 100 Continue"
            got += chunk
        assert got == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"abc")
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            got += chunk
    assert got.split(b"\r\n")[2].startswith(b"HTTP/1.1 200 ")
    assert api.entry("e") == b"abc"
    # too large with Expect: answered at once, the body is never asked for
    (big,) = raw_h1(api, h1_head(b"PUT", b"/v1/cache/f",
                                 b"Expect: 100-continue\r\nContent-Length: 5000\r\n"))
    assert big[0] == 413 and big[1]["connection"] == "close" and api.entry("f") is None


def test_h2_streams_are_multiplexed(api):
    api.faults(latency_ms=300)
    urls = [api.url + "/v1/cache/health"] * 4
    cmd = ["curl", "-s", "--http2", "--parallel", "--parallel-max", "4", "--cacert", api.ca,
           "--resolve", api.resolve, "-H", "Authorization: Bearer " + SDK,
           "-H", "X-CacheKit-L1-Status: miss", "-w", "%{http_code}\n"]
    for u in urls:
        cmd += ["-o", "/dev/null", u]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    assert p.stdout.split() == ["200"] * 4
    s = api.stats()
    assert s["requests"] == 4 and s["max_concurrent_streams"] >= 2


# ---- auth, key classes, keys --------------------------------------------------------------

def test_every_response_has_cache_headers(api):
    for r in (curl(api, "GET", "/v1/cache/health"), curl(api, "GET", "/v1/cache/x"),
              curl(api, "GET", "/v1/cache/x", key=None), h1(api, "POST", "/v1/cache/x")):
        assert r.headers["cache-control"] == "no-store"
        assert r.headers["vary"] == "Authorization"


def test_authentication(api):
    assert curl(api, "GET", "/v1/cache/health", key=None).status == 401
    assert curl(api, "GET", "/v1/cache/health", key="ck_sdk_other").status == 401
    assert curl(api, "GET", "/v1/cache/health", key=BOGUS).status == 401
    r = h1(api, "GET", "/v1/cache/health", headers={"Authorization": "Basic " + SDK}, key=None)
    assert r.status == 401 and json.loads(r.body)["error"]
    # authentication comes before routing and method checks
    assert curl(api, "POST", "/v1/cache/x", key=None).status == 401
    assert curl(api, "GET", "/nowhere", key=None).status == 401
    # CORS preflight is answered before authentication
    assert h1(api, "OPTIONS", "/v1/cache/x", key=None, l1=None).status == 204


def test_l1_status_rules(api):
    for bad in (None, "enabled", "MISS", ""):
        assert curl(api, "GET", "/v1/cache/health", l1=bad).status == 400, bad
    for good in ("hit", "miss", "disabled"):
        assert curl(api, "GET", "/v1/cache/health", l1=good).status == 200, good
    assert curl(api, "GET", "/v1/cache/health", key=LIVE, l1=None).status == 200
    assert curl(api, "GET", "/v1/cache/health", key=API, l1=None).status == 200


def test_write_space_split(api):
    assert put(api, "nsapi%3Ateam%3Ak", b"v", key=SDK).status == 403
    assert put(api, "ns%3Ateam%3Ak", b"v", key=API).status == 403
    assert put(api, "nsapi%3Ateam%3Ak", b"v", key=API).status == 200
    assert put(api, "ns%3Ateam%3Ak", b"v", key=SDK).status == 200
    assert put(api, "plain", b"v", key=SDK).status == 200
    assert put(api, "plain", b"v", key=API).status == 200
    assert put(api, "nsapi%3Ateam%3Ak", b"w", key=LIVE).status == 200
    assert put(api, "ns%3Ateam%3Ak", b"w", key=LIVE).status == 200
    # reads are open; the other mutations are split too
    assert curl(api, "GET", "/v1/cache/nsapi%3Ateam%3Ak", key=SDK).body == b"w"
    assert curl(api, "DELETE", "/v1/cache/nsapi%3Ateam%3Ak", key=SDK).status == 403
    assert curl(api, "POST", "/v1/cache/nsapi%3Ateam%3Ak/lock", key=SDK,
                data=b'{"timeout_ms":1000}').status == 403
    assert curl(api, "PATCH", "/v1/cache/ns%3Ateam%3Ak/ttl", key=API,
                data=b'{"ttl":10}').status == 403
    assert curl(api, "GET", "/v1/cache/ns%3Ateam%3Ak/ttl", key=API).status == 200


@pytest.mark.parametrize("path,status", [
    ("/v1/cache/%zz", 400), ("/v1/cache/abc%2", 400), ("/v1/cache/a..b", 400),
    ("/v1/cache/a%2Fb", 400), ("/v1/cache/a%20b", 400), ("/v1/cache/%C3%A9", 400),
    ("/v1/cache/" + "k" * 401, 400), ("/v1/cache/ns%3A%3Ax", 400), ("/v1/cache/ns%3Ateam", 400),
    ("/v1/cache/ns%3Ateam%3A", 400), ("/v1/cache/ns%3A" + "n" * 65 + "%3Ax", 400),
    ("/v1/cache/a%00b", 400), ("/v1/cache/a%2E%2Eb", 400),
    ("/v1/cache/" + "k" * 400, 404), ("/v1/cache/ns%3A" + "n" * 64 + "%3Ax", 404),
    ("/v1/cache/User:Key", 404), ("/v1/cache/a-b_c.d", 404),
    ("/v1/cache/a/b", 404), ("/v1/cache/a/lock/x", 404), ("/v1/cache/", 404), ("/v2/x", 404),
])
def test_key_decoding_and_routes(api, path, status):
    assert curl(api, "GET", path, extra=["--path-as-is"]).status == status


@pytest.mark.parametrize("method,path,allow", [
    ("POST", "/v1/cache/k", "GET, HEAD, PUT, DELETE"),
    ("PATCH", "/v1/cache/k", "GET, HEAD, PUT, DELETE"),
    ("GET", "/v1/cache/k/lock", "POST, DELETE"),
    ("DELETE", "/v1/cache/k/ttl", "GET, PATCH"),
    ("PUT", "/v1/cache/health", "GET"),
])
def test_method_not_allowed_has_allow(api, method, path, allow):
    r = curl(api, method, path)
    assert (r.status, r.headers["allow"]) == (405, allow)


# ---- entries -----------------------------------------------------------------------------

def test_put_get_head_delete(api):
    value = bytes(range(256)) * 4
    r = put(api, "ns%3Aapp%3Auser%3A1", value[:1000])
    assert (r.status, json.loads(r.body)) == (200, {"success": True})
    r = curl(api, "GET", "/v1/cache/ns%3Aapp%3Auser%3A1")
    assert (r.status, r.body, r.headers["content-type"]) == (200, value[:1000],
                                                             "application/octet-stream")
    assert r.headers["x-cachekit-freshness"] == "fresh"
    assert "x-cachekit-fresh-for" not in r.headers  # no TTL: no bound
    assert api.entry("ns:app:user:1") == value[:1000]  # stored as-is
    r = curl(api, "HEAD", "/v1/cache/ns%3Aapp%3Auser%3A1")
    assert (r.status, r.headers["content-length"]) == (200, "1000")
    r = h1(api, "HEAD", "/v1/cache/ns%3Aapp%3Auser%3A1")
    assert (r.status, r.body) == (200, b"")
    r = curl(api, "DELETE", "/v1/cache/ns%3Aapp%3Auser%3A1")
    assert (r.status, json.loads(r.body)) == (200, {"success": True})
    assert curl(api, "GET", "/v1/cache/ns%3Aapp%3Auser%3A1").status == 404
    assert curl(api, "HEAD", "/v1/cache/ns%3Aapp%3Auser%3A1").status == 404
    assert api.entry("ns:app:user:1") is None


def test_empty_value_is_stored(api):
    assert put(api, "empty", b"").status == 200
    r = curl(api, "GET", "/v1/cache/empty")
    assert (r.status, r.body) == (200, b"")


def test_delete_missing_variants(api):
    r = curl(api, "DELETE", "/v1/cache/nothing")
    assert (r.status, json.loads(r.body)) == (404, {"error": "Not Found"})
    api.faults(delete_missing="200")
    r = curl(api, "DELETE", "/v1/cache/nothing")
    assert (r.status, json.loads(r.body)) == (200, {"success": True})
    api.reset()  # back to the start-up mode
    assert curl(api, "DELETE", "/v1/cache/nothing").status == 404


@pytest.mark.parametrize("headers", [
    {"X-CacheKit-TTL": "0"}, {"X-CacheKit-TTL": "-1"}, {"X-CacheKit-TTL": "1.5"},
    {"X-CacheKit-TTL": "2592001"}, {"X-CacheKit-TTL": "abc"}, {"X-CacheKit-TTL": ""},
    {"X-TTL": "0"}, {"X-CacheKit-Stale-TTL": "5"},
    {"X-CacheKit-TTL": "2", "X-CacheKit-Stale-TTL": "2591999"},
    {"X-CacheKit-TTL": "10", "X-CacheKit-Stale-TTL": "-1"},
    {"X-CacheKit-TTL": "10", "X-CacheKit-Stale-TTL": "x"},
])
def test_bad_ttl_headers(api, headers):
    h = {"Content-Type": "application/octet-stream"}
    h.update(headers)
    assert h1(api, "PUT", "/v1/cache/k", h, b"v").status == 400
    assert api.entry("k") is None


def test_ttl_bounds_and_legacy_header(api):
    assert put(api, "a", b"v", ttl=2592000).status == 200
    assert put(api, "b", b"v", ttl=1, stale=2591999).status == 200
    assert h1(api, "PUT", "/v1/cache/c", {"X-TTL": "50"}, b"v").status == 200
    assert json.loads(curl(api, "GET", "/v1/cache/c/ttl").body)["ttl"] in (49, 50)
    # X-CacheKit-TTL wins over X-TTL
    h = {"X-TTL": "50", "X-CacheKit-TTL": "500"}
    assert h1(api, "PUT", "/v1/cache/d", h, b"v").status == 200
    assert json.loads(curl(api, "GET", "/v1/cache/d/ttl").body)["ttl"] in (499, 500)


def test_value_too_large(api):
    assert put(api, "big", b"x" * 1000).status == 200
    r = curl(api, "PUT", "/v1/cache/big2", data=b"x" * 1001)
    assert r.status == 413 and r.version == "2"
    conn = h1_conn(api)
    assert put(api, "big3", b"x" * 1001).status == 413
    r = h1(api, "PUT", "/v1/cache/big4", body=b"y" * 5000, conn=conn)
    assert r.status == 413
    assert h1(api, "GET", "/v1/cache/big", conn=conn).body == b"x" * 1000  # same connection
    conn.close()
    assert api.entry("big2") is None and api.entry("big4") is None
    assert [r["body_len"] for r in api.requests() if r["status"] == 413] == [1001, 1001, 5000]


def test_default_size_limit_is_25_mb():
    with FakeApi() as api:
        assert put(api, "max", b"m" * 25000000).status == 200
        assert put(api, "over", b"o" * 25000001).status == 413
        r = curl(api, "PUT", "/v1/cache/over", data=b"o" * 25000001)
        assert (r.status, r.version) == (413, "2")
        assert len(api.entry("max")) == 25000000 and api.entry("over") is None


# ---- freshness, TTL, clock ----------------------------------------------------------------

def test_freshness_and_stale_window(api):
    assert put(api, "sw", b"v", ttl=10, stale=20).status == 200
    r = curl(api, "GET", "/v1/cache/sw")
    assert r.headers["x-cachekit-freshness"] == "fresh"
    assert int(r.headers["x-cachekit-fresh-for"]) in (8, 9, 10)
    assert json.loads(curl(api, "GET", "/v1/cache/sw/ttl").body)["ttl"] in (29, 30)
    api.advance_clock(11)
    r = curl(api, "GET", "/v1/cache/sw")
    assert (r.status, r.body, r.headers["x-cachekit-freshness"]) == (200, b"v", "stale")
    assert r.headers["x-cachekit-fresh-for"] == "0"
    r = curl(api, "HEAD", "/v1/cache/sw")
    assert r.status == 200 and "x-cachekit-fresh-for" not in r.headers
    assert json.loads(curl(api, "GET", "/v1/cache/sw/ttl").body)["ttl"] in (18, 19)
    api.advance_clock(20)
    assert curl(api, "GET", "/v1/cache/sw").status == 404
    assert curl(api, "HEAD", "/v1/cache/sw").status == 404
    assert curl(api, "GET", "/v1/cache/sw/ttl").status == 404


def test_frozen_clock_stands_still_and_restarts(api):
    t = api.control("GET", "/clock")
    assert t["frozen"] is True
    assert put(api, "fz", b"v", ttl=10, stale=20).status == 200
    time.sleep(1.1)  # more than a second passes on the wall clock
    assert api.control("GET", "/clock")["now_ms"] == t["now_ms"]
    assert json.loads(curl(api, "GET", "/v1/cache/fz/ttl").body)["ttl"] == 30
    assert api.advance_clock(5)["now_ms"] == t["now_ms"] + 5000  # advances still apply
    assert json.loads(curl(api, "GET", "/v1/cache/fz/ttl").body)["ttl"] == 25
    api.freeze_clock(False)
    time.sleep(0.05)
    after = api.control("GET", "/clock")
    assert after["frozen"] is False and after["now_ms"] >= t["now_ms"] + 5050
    api.reset()
    assert api.control("GET", "/clock")["frozen"] is False


def test_no_ttl_never_expires(api):
    assert put(api, "forever", b"v").status == 200
    api.advance_clock(10 ** 7)
    r = curl(api, "GET", "/v1/cache/forever/ttl")
    assert (r.status, json.loads(r.body)) == (200, {"ttl": None})
    assert curl(api, "GET", "/v1/cache/forever").body == b"v"


def test_ttl_patch(api):
    def patch(k, body):
        return curl(api, "PATCH", "/v1/cache/%s/ttl" % k, data=body,
                    headers={"Content-Type": "application/json"})

    def ttl(k):
        return json.loads(curl(api, "GET", "/v1/cache/%s/ttl" % k).body)["ttl"]

    assert patch("absent", b'{"ttl": 10}').status == 200  # no-op
    assert api.entry("absent") is None
    put(api, "p", b"v", ttl=5, stale=10)
    for bad in (b'{"ttl": 0}', b'{"ttl": 2592001}', b'{"ttl": "5"}', b'{"ttl": 1.5}',
                b'{}', b'nope', b'{"ttl": 2591995}'):
        assert patch("p", bad).status == 400, bad
    assert patch("p", b'{"ttl":100}').status == 200
    assert ttl("p") in (109, 110)  # stale window kept
    api.advance_clock(101)
    assert curl(api, "GET", "/v1/cache/p").headers["x-cachekit-freshness"] == "stale"
    assert patch("p", b'{"ttl": 100}').status == 409
    put(api, "q", b"v")
    assert patch("q", b'{"ttl": 30}').status == 200  # bounds a no-expiry entry
    assert ttl("q") in (29, 30)


# ---- locks -------------------------------------------------------------------------------

def lock(api, k, body=b'{"timeout_ms": 5000}'):
    return curl(api, "POST", "/v1/cache/%s/lock" % k, data=body,
                headers={"Content-Type": "application/json"})


def unlock(api, k, lock_id):
    headers = {} if lock_id is None else {"X-CacheKit-Lock-Id": lock_id}
    return h1(api, "DELETE", "/v1/cache/%s/lock" % k, headers)


def test_lock_acquire_contend_release(api):
    r = lock(api, "L")
    lock_id = json.loads(r.body)["lock_id"]
    assert r.status == 200 and UUID4.match(lock_id)
    r = lock(api, "L", b'{"timeout_ms":5000}')
    assert (r.status, json.loads(r.body)) == (200, {"lock_id": None})
    assert json.loads(curl(api, "GET", "/v1/cache/health").body)["active_locks"] == 1
    assert unlock(api, "L", None).status == 400
    assert unlock(api, "L", "   ").status == 400
    assert unlock(api, "L", "not-the-id").status == 200
    assert json.loads(lock(api, "L").body)["lock_id"] is None  # still held
    assert unlock(api, "L", lock_id).status == 200
    new_id = json.loads(lock(api, "L").body)["lock_id"]
    assert UUID4.match(new_id) and new_id != lock_id


def test_lock_bad_body(api):
    for body in (b"", b"{}", b'{"timeout_ms": 0}', b'{"timeout_ms": "5"}', b"[1]"):
        assert lock(api, "B", body).status == 400, body


def test_lock_lease_expires_on_server_clock(api):
    first = json.loads(lock(api, "E", b'{"timeout_ms": 5000}').body)["lock_id"]
    api.advance_clock(4)
    assert json.loads(lock(api, "E").body)["lock_id"] is None
    api.advance_clock(2)
    second = json.loads(lock(api, "E").body)["lock_id"]
    assert UUID4.match(second)
    assert unlock(api, "E", first).status == 200  # expired id: no-op 200 by default
    assert json.loads(lock(api, "E").body)["lock_id"] is None  # second still holds it


def test_lock_modes(api):
    api.faults(lock_contested="409", unlock_wrong="404")
    assert lock(api, "M").status == 200
    assert lock(api, "M").status == 409
    assert unlock(api, "M", "wrong").status == 404


# ---- health ------------------------------------------------------------------------------

def test_health_shapes(api):
    put(api, "h1", b"v")
    lock(api, "h2")
    r = curl(api, "GET", "/v1/cache/health")
    assert json.loads(r.body) == {"status": "ok", "cache_entries": 1, "active_locks": 1}
    api.faults(health_shape="old")
    assert json.loads(curl(api, "GET", "/v1/cache/health").body) == {"version": "1.0.0"}
    api.faults(health_shape="text")
    r = curl(api, "GET", "/v1/cache/health")
    assert r.status == 200 and r.body == b"OK\n" and r.headers["content-type"] == "text/plain"


@pytest.mark.parametrize("status", [400, 404, 405])
def test_lock_routes_mode(api, status):
    api.faults(lock_routes=str(status))
    assert lock(api, "NL").status == status
    assert unlock(api, "NL", "x").status == status
    assert curl(api, "GET", "/v1/cache/NL").status == 404  # the other routes still work
    assert api.faults()["lock_routes"] == str(status)
    api.faults(lock_routes="on")
    assert lock(api, "NL").status == 200


def test_ttl_zero_mode(api):
    put(api, "tz", b"v", ttl=60)
    assert json.loads(curl(api, "GET", "/v1/cache/tz/ttl").body)["ttl"] in (59, 60)
    api.faults(ttl_zero=True)
    assert json.loads(curl(api, "GET", "/v1/cache/tz/ttl").body) == {"ttl": 0}


def test_retry_after_as_a_date(api):
    import email.utils  # noqa: PLC0415
    api.faults(fail_next=[503], retry_after=30, retry_after_form="date")
    r = curl(api, "GET", "/v1/cache/x")
    when = email.utils.parsedate_to_datetime(r.headers["retry-after"]).timestamp()
    assert r.status == 503 and 28 <= when - time.time() <= 31
    assert r.headers["retry-after"].endswith(" GMT")


# ---- faults ------------------------------------------------------------------------------

def test_fail_next_is_deterministic(api):
    api.faults(fail_next=[503, 429, 500], retry_after=2)
    r1 = curl(api, "GET", "/v1/cache/x")
    r2 = h1(api, "GET", "/v1/cache/x")
    r3 = curl(api, "GET", "/v1/cache/x")
    r4 = curl(api, "GET", "/v1/cache/x")
    assert [r.status for r in (r1, r2, r3, r4)] == [503, 429, 500, 404]
    assert r1.headers["retry-after"] == "2" and r2.headers["retry-after"] == "2"
    assert "retry-after" not in r3.headers and "retry-after" not in r4.headers
    assert [r["status"] for r in api.requests()] == [503, 429, 500, 404]
    assert api.faults()["fail_next"] == []


def test_injected_fault_does_not_mutate(api):
    api.faults(fail_next=[503])
    assert put(api, "nf", b"v").status == 503
    assert api.entry("nf") is None


def test_error_rate_uses_statuses_and_seed(api):
    api.faults(error_rate=1.0, error_statuses=[502])
    assert {curl(api, "GET", "/v1/cache/x").status for _ in range(3)} == {502}

    def run():
        api.faults(error_rate=0.5, error_statuses=[503, 429], seed=42, retry_after=1)
        conn = h1_conn(api)
        out = [h1(api, "GET", "/v1/cache/x", conn=conn).status for _ in range(60)]
        conn.close()
        return out

    first, second = run(), run()
    assert first == second  # same seed, same dice
    assert set(first) == {404, 503, 429}


def test_injected_reset(api):
    api.faults(fail_next=[0])
    r = curl(api, "GET", "/v1/cache/x")
    assert r.rc != 0 and r.status == 0
    assert curl(api, "GET", "/v1/cache/x").status == 404
    api.faults(reset_rate=1.0)
    with pytest.raises((ConnectionError, http.client.HTTPException, ssl.SSLError)):
        h1(api, "GET", "/v1/cache/x")
    assert [r["status"] for r in api.requests()] == [0, 404, 0]
    assert api.stats()["resets_injected"] == 2


def test_latency_and_stall(api):
    api.faults(latency_ms=300)
    t0 = time.monotonic()
    assert curl(api, "GET", "/v1/cache/health").status == 200
    assert time.monotonic() - t0 >= 0.3
    api.faults(latency_ms=0, stall_ms=20000)
    conn = h1_conn(api, timeout=0.5)
    with pytest.raises(socket.timeout):
        h1(api, "GET", "/v1/cache/health", conn=conn)
    conn.close()


def test_fault_flags_at_start():
    with FakeApi(args=["--fail-next", "503,0", "--retry-after", "3", "--delete-missing", "200",
                       "--health-shape", "old"]) as api:
        r = curl(api, "GET", "/v1/cache/health")
        assert (r.status, r.headers["retry-after"]) == (503, "3")
        assert curl(api, "GET", "/v1/cache/health").rc != 0  # reset
        assert json.loads(curl(api, "GET", "/v1/cache/health").body) == {"version": "1.0.0"}
        assert curl(api, "DELETE", "/v1/cache/x").status == 200
        f = api.faults()
        assert f["delete_missing"] == "200" and f["health_shape"] == "old"


# ---- recording and control ----------------------------------------------------------------

def test_recording(api):
    curl(api, "PUT", "/v1/cache/ns%3Aa%3Ab", data=b"12345",
         headers={"X-CacheKit-TTL": "60", "X-Custom-Thing": "Some Value"})
    h1(api, "GET", "/v1/cache/ns%3Aa%3Ab", headers={"User-Agent": "cachekit-agent/0.1.0"})
    recs = api.requests()
    assert [r["seq"] for r in recs] == [1, 2]
    put_rec, get_rec = recs
    assert (put_rec["method"], put_rec["path"], put_rec["proto"]) == (
        "PUT", "/v1/cache/ns%3Aa%3Ab", "h2")
    assert (put_rec["body_len"], put_rec["status"]) == (5, 200)
    hdrs = dict(put_rec["headers"])
    assert hdrs["x-custom-thing"] == "Some Value"
    assert hdrs["x-cachekit-ttl"] == "60" and hdrs["authorization"] == "Bearer " + SDK
    assert put_rec["authority"] == "%s:%d" % (api.host, api.port)
    assert get_rec["proto"] == "http/1.1" and get_rec["status"] == 200
    assert dict(get_rec["headers"])["user-agent"] == "cachekit-agent/0.1.0"
    assert [r["seq"] for r in api.requests(since=1)] == [2]


def test_control_is_not_api_traffic_and_reset_clears(api):
    put(api, "r", b"v")
    lock(api, "r", b'{"timeout_ms": 1000000}')
    api.faults(latency_ms=5)
    api.advance_clock(100)
    api.stats()
    api.requests()
    s = api.stats()
    assert s["requests"] == 2 and s["cache_entries"] == 1 and s["active_locks"] == 1
    assert s["clock_offset_ms"] == 100000
    api.reset()
    s = api.stats()
    assert (s["requests"], s["cache_entries"], s["active_locks"], s["clock_offset_ms"]) == (
        0, 0, 0, 0)
    assert api.requests() == [] and api.faults()["latency_ms"] == 0


def test_control_errors(api):
    assert api.control_raw("POST", "/faults", {"bogus": 1})[0] == 400
    assert api.control_raw("POST", "/faults", {"error_rate": 2})[0] == 400
    assert api.control_raw("POST", "/faults", b"not json")[0] == 400
    assert api.control_raw("POST", "/clock", {"advance_s": -1})[0] == 400
    assert api.control_raw("GET", "/nope")[0] == 404
    assert api.control_raw("GET", "/entries/absent")[0] == 404
    f = api.faults(error_statuses=[500, 502], retry_after=4)
    assert f["error_statuses"] == [500, 502] and f["retry_after"] == 4 and f["error_rate"] == 0

# SPDX-License-Identifier: Apache-2.0
"""Start and steer ck-fakeapi (the local cachekit.io API test server) from Python tests.

Import by path (no package needed)::

    sys.path.insert(0, "<repo>/tests/fakeapi")
    from fakeapi import FakeApi

    with FakeApi() as api:            # binary from $CK_FAKEAPI, certs from $CK_TEST_CERTS
        api.faults(fail_next=[503, 503])
        ... point the client at api.url with CA api.ca and resolve api.resolve ...
        assert api.requests()[0]["status"] == 503

The server listens on an ephemeral TLS port (api.port) for the API and on an ephemeral plain
HTTP port on 127.0.0.1 (api.control_port) for control. Names in the certificate:
api.cachekit.io, api.staging.cachekit.io, fake.cachekit.test, localhost, 127.0.0.1.
"""

import http.client
import json
import os
import signal
import subprocess
import tempfile
import time

DEFAULT_HOST = "api.cachekit.io"


class FakeApiError(RuntimeError):
    pass


class FakeApi:
    def __init__(self, binary=None, certs=None, host=DEFAULT_HOST, api_keys=None, args=None,
                 quiet=True):
        self.binary = binary or os.environ.get("CK_FAKEAPI")
        self.certs = certs or os.environ.get("CK_TEST_CERTS")
        if not self.binary or not self.certs:
            raise FakeApiError("set CK_FAKEAPI and CK_TEST_CERTS (or pass binary/certs)")
        self.host = host
        self.api_keys = list(api_keys or ["ck_sdk_test"])
        self.args = list(args or [])
        self.quiet = quiet
        self.proc = None
        self.port = None
        self.control_port = None
        self._tmp = None

    # ---- lifecycle ----
    @property
    def ca(self):
        return os.path.join(self.certs, "ca.pem")

    @property
    def url(self):
        return "https://%s:%d" % (self.host, self.port)

    @property
    def resolve(self):
        """curl/libcurl CURLOPT_RESOLVE entry pinning self.host to the server."""
        return "%s:%d:127.0.0.1" % (self.host, self.port)

    def start(self, timeout=10.0):
        self._tmp = tempfile.TemporaryDirectory(prefix="ck-fakeapi.")
        pfile = os.path.join(self._tmp.name, "port")
        cfile = os.path.join(self._tmp.name, "control-port")
        cmd = [self.binary, "--cert", os.path.join(self.certs, "server.pem"),
               "--key", os.path.join(self.certs, "server.key"),
               "--port", "0", "--port-file", pfile,
               "--control-port", "0", "--control-port-file", cfile]
        for k in self.api_keys:
            cmd += ["--api-key", k]
        if self.quiet:
            cmd.append("--quiet")
        cmd += self.args
        self.proc = subprocess.Popen(cmd)
        deadline = time.monotonic() + timeout
        while not (os.path.exists(pfile) and os.path.exists(cfile)):
            if self.proc.poll() is not None:
                raise FakeApiError("ck-fakeapi exited with %d" % self.proc.returncode)
            if time.monotonic() > deadline:
                self.stop()
                raise FakeApiError("ck-fakeapi did not start")
            time.sleep(0.01)
        with open(pfile) as f:
            self.port = int(f.read())
        with open(cfile) as f:
            self.control_port = int(f.read())
        return self

    def stop(self):
        """SIGTERM and wait; returns the exit status (0 on a clean stop)."""
        rc = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            rc = self.proc.returncode
            self.proc = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        return rc

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        rc = self.stop()
        if rc != 0 and exc_type is None:
            raise FakeApiError("ck-fakeapi exited with status %r" % rc)

    # ---- control endpoint ----
    def control_raw(self, method, path, body=None):
        """(status, headers dict, body bytes) of one control request."""
        conn = http.client.HTTPConnection("127.0.0.1", self.control_port, timeout=10)
        try:
            data = None
            headers = {}
            if body is not None:
                data = body if isinstance(body, (bytes, bytearray)) else json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            conn.request(method, path, body=data, headers=headers)
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            conn.close()

    def control(self, method, path, json_body=None):
        status, _, data = self.control_raw(method, path, json_body)
        if status != 200:
            raise FakeApiError("control %s %s -> %d %r" % (method, path, status, data))
        return json.loads(data) if data else None

    def requests(self, since=0):
        return self.control("GET", "/requests?since=%d" % since)

    def stats(self):
        return self.control("GET", "/stats")

    def reset(self):
        return self.control("POST", "/reset", {})

    def faults(self, **kw):
        """Merge fault/mode settings (latency_ms, stall_ms, error_rate, error_statuses,
        retry_after, reset_rate, fail_next, seed, delete_missing, lock_contested,
        unlock_wrong, health_shape); with no arguments, just read them."""
        if not kw:
            return self.control("GET", "/faults")
        return self.control("POST", "/faults", kw)

    def advance_clock(self, seconds):
        return self.control("POST", "/clock", {"advance_s": seconds})

    def freeze_clock(self, frozen=True):
        """Stops (or restarts) the server clock; reset() restarts it."""
        return self.control("POST", "/clock", {"freeze": bool(frozen)})

    def entry(self, key):
        """Stored bytes of `key` (percent-encoded or raw), or None if absent."""
        from urllib.parse import quote
        status, _, data = self.control_raw("GET", "/entries/" + quote(key, safe=""))
        if status == 404:
            return None
        if status != 200:
            raise FakeApiError("entries %s -> %d" % (key, status))
        return data

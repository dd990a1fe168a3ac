# SPDX-License-Identifier: Apache-2.0
"""kill -9 of a single Redis node in the middle of a load, restarted at once on the same unix
socket while the clients keep going: every request in flight or sent later is answered by
its deadline, with the right value (a key's value never changes, so any value read can be
checked) or a timeout/unavailable/upstream error, never a wrong value; the requests after the
restart are served again without restarting the agent (the lost commands are retried once on
the new connection)."""
import os
import shutil
import signal
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(__file__)
sys.path.insert(0, HERE)
from harness import RawClient, pb, stats_of, wait_until  # noqa: E402
from test_redis import (CK_ETIMEDOUT, CK_EUNAVAILABLE, CK_EUPSTREAM, CK_OK,  # noqa: E402,F401
                        Redis, pytestmark, redis_agent)


def value_of(k):
    return f"value-of-{k}".encode() * 3


def test_kill9_and_restart_mid_load():
    d = tempfile.mkdtemp(prefix="ck-redis-rs-")
    redis = Redis(d).start()
    try:
        # no stale-if-error copies: every OK answer comes from Redis itself
        with redis_agent(f"redis+unix://{redis.sock}", "--stale-if-error-size", "0",
                         "--breaker-open", "1") as a:
            restarted = threading.Event()
            problems, lock = [], threading.Lock()

            def client(t):
                with RawClient(a.endpoint, 5000) as c:
                    for i in range(400):
                        if t == 0 and i == 80:
                            redis.kill(signal.SIGKILL)
                            redis.start()  # same socket; no persistence: the data is gone
                            restarted.set()
                        k = f"rs:{t}:{i % 40}"
                        t0 = time.monotonic()
                        try:
                            if i % 3 == 0:
                                r = c.call(deadline_ms=1000, set=pb().SetRequest(
                                    key=k, value=value_of(k), ttl_s=600))
                            else:
                                r = c.call(deadline_ms=1000, get=pb().GetRequest(key=k))
                        except TimeoutError:
                            with lock:
                                problems.append(f"{k}: no answer")
                            continue
                        late = time.monotonic() - t0 > 2.0
                        wrong = r.status == CK_OK and r.HasField("get") and r.get.found and \
                            r.get.value != value_of(k)
                        bad = r.status not in (CK_OK, CK_ETIMEDOUT, CK_EUNAVAILABLE,
                                               CK_EUPSTREAM)
                        with lock:
                            if late or wrong or bad:
                                problems.append(f"{k}: status {r.status} late={late} "
                                                f"wrong={wrong}")

            threads = [threading.Thread(target=client, args=(t,)) for t in range(4)]
            for th in threads:
                th.start()
            for th in threads:
                th.join(180)
            assert restarted.is_set()
            assert not problems, problems[:5]
            with RawClient(a.endpoint, 5000) as c:
                # the same agent serves again once its breaker lets a probe through
                wait_until(lambda: c.call(set=pb().SetRequest(
                    key="rs:final", value=b"x")).status == CK_OK, what="the agent to serve")
                assert stats_of(c)["redis_reconnects"] >= 1
                assert redis.cli("GET", "rs:final").stdout.strip() == b"x"
    finally:
        redis.kill(signal.SIGTERM)
        shutil.rmtree(d, ignore_errors=True)

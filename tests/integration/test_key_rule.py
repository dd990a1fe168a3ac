# SPDX-License-Identifier: Apache-2.0
"""One key rule (common/ck_limits.h, common/keys.c, cachekit_stub/_keyrule.py): for every case
below, with and without a namespace, the agent (spoken to in raw protobuf, no stub in between),
the C stub (cachekit-ctl) and the Python stub give the same verdict; and a key either stub
refuses never reaches the agent (its per-op request counter moves only for the keys it
accepts)."""
import os
import random
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from harness import AGENT, CTL, Agent, RawClient, ctl, pb  # noqa: E402

pytestmark = pytest.mark.skipif(not (AGENT and CTL), reason="CK_AGENT_BIN/CK_CTL_BIN not set")

EINVALKEY_TEXT = b"invalid cache key"


def cases():
    """(namespace, key) pairs over every branch of the rule, then seeded random ones."""
    base = ["k", "user:1", "a.b", "a..b", "..", ".", "health", "ttl", "lock", "HEALTH",
            "ns:team:k", "ns:team:", "ns:team", "ns::k", "ns:bad!:k", "nsapi:x:y", "nsapi:x",
            "ns:" + "n" * 64 + ":k", "ns:" + "n" * 65 + ":k", "a b", "a/b", "caf\u00e9",
            "tab\tkey", "-", "_", ":", "a:..:b", "k" * 400, "k" * 401, "k" * 394, "k" * 395]
    out = [(ns, k) for ns in ("", "team", "n" * 64) for k in base]
    out += [("bad ns", "k"), ("n" * 65, "k"), ("team", "")]
    rng = random.Random(20261205)
    alphabet = "ab.:-_!/ \u00e9"
    for _ in range(120):
        key = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8)))
        out.append((rng.choice(["", "team"]), key))
    return out


def agent_refuses(raw, ns, key):
    from cachekit_stub.errors import EINVALKEY
    r = raw.call(namespace=ns, exists=pb().ExistsRequest(key=key))
    assert r.status in (0, EINVALKEY), (ns, key, r)
    return r.status == EINVALKEY


def exists_count(raw):
    r = raw.call(stats=pb().StatsRequest())
    return {s.name: s.value for s in r.stats.stats}.get("latency_exists_count", 0)


def test_agent_and_both_stubs_give_one_verdict():
    import cachekit_stub
    from cachekit_stub import InvalidArgument
    with Agent() as a, RawClient(a.endpoint, 30000) as raw:
        verdicts = [(ns, key, agent_refuses(raw, ns, key)) for ns, key in cases()]
        refused = sum(v for _, _, v in verdicts)
        assert 0 < refused < len(verdicts)
        before = exists_count(raw)
        py = cachekit_stub.Client(endpoint=a.endpoint, timeout=30)
        try:
            for ns, key, agent_says_no in verdicts:
                try:
                    py.exists(key, namespace=ns)
                    py_says_no = False
                except InvalidArgument as e:  # InvalidKey; a bad namespace is CK_EINVAL here
                    py_says_no = True
                    assert "invalid cache key" in str(e) or "namespace" in str(e), e
                assert py_says_no == agent_says_no, (ns, key)
        finally:
            py.close()
        c_cases = [v for i, v in enumerate(verdicts) if i % 3 == 0 or v[2]]  # every refusal
        c_sent = 0
        for ns, key, agent_says_no in c_cases:
            if key.startswith("-") and key != "-":
                continue  # cachekit-ctl would read it as an option
            args = ["--timeout", "30000"] + (["--namespace", ns] if ns else []) + \
                ["exists", key]
            r = ctl(a.endpoint, *args)
            assert (EINVALKEY_TEXT in r.stderr) == agent_says_no, (ns, key, r.stderr)
            c_sent += not agent_says_no
        accepted = (len(verdicts) - refused) + c_sent
        # Only accepted keys reached the agent: the stubs refused the others themselves.
        assert exists_count(raw) - before == accepted

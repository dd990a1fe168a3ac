# SPDX-License-Identifier: Apache-2.0
"""A mixed deployment on one namespace: cachekit-py in interop mode beside agent clients
(docs/mixed-deployments.md), against a real agent on the embedded store and on the cachekit.io
API (ck-fakeapi).

Values are stored byte for byte as cachekit-py's interop mode writes them (the rows of
interop-mode.json: canonical MessagePack, and the interop/v1 ciphertext of its encryption
row) and read through the agent by the Python stub's @cached decorator and by cachekit-ctl;
the reverse direction checks that what the agent's clients write is exactly those bytes, and,
encrypted, ciphertext an independent interop/v1 reader (Python `cryptography`, written here
from the spec) opens. A cachekit-py auto-mode entry (python-frame.json) is reported as one by
every stub, never handed out as a value or as corrupt bytes."""

import hashlib
import hmac
import json
import logging
import os
import struct
import subprocess

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cachekit_stub import AutoModeEntry, Client, cached
from cachekit_stub.decorator import decode_value, encode_value

from conftest import real_agent, vectors_dir

INTEROP = json.loads((vectors_dir() / "interop-mode.json").read_text())
FRAMES = json.loads((vectors_dir() / "python-frame.json").read_text())
ENC = INTEROP["encryption_vectors"][0]


@pytest.fixture(scope="module", params=["memory", "fakeapi"])
def agent(request):
    """An agent holding the interop encryption row's master key and tenant."""
    with real_agent(request.param, {"CACHEKIT_MASTER_KEY": ENC["master_key_hex"]},
                    ("--tenant-id", ENC["tenant_id"])) as proc:
        yield proc


@pytest.fixture
def client(agent):
    c = Client(agent.endpoint, timeout=10.0)
    yield c
    c.close()


def stored_bytes(agent, client, key):
    """The bytes at key as cachekit-py would GET them: from the API itself when there is
    one, else through a plain (non-secure) Get of the embedded store."""
    if agent.api is not None:
        return agent.api.entry(key)
    return client.get(key, namespace="")


def derive(master_hex, tenant):
    """HKDF-SHA256 tenant encryption key (protocol encryption.md), independent of the agent."""
    t, domain = tenant.encode(), b"encryption"
    salt = b"cachekit_v1_" + bytes([len(domain)]) + domain + struct.pack(">H", len(t)) + t
    prk = hmac.new(salt, bytes.fromhex(master_hex), hashlib.sha256).digest()
    return hmac.new(prk, domain + b"\x01", hashlib.sha256).digest()


def interop_aad(tenant, key):
    out = b"\x03"
    for part in (tenant, key, "msgpack", "False"):
        out += struct.pack(">I", len(part.encode())) + part.encode()
    return out


def _never(_arg):
    raise AssertionError("computed although cachekit-py's entry was there")


@pytest.mark.parametrize("row", INTEROP["value_vectors"], ids=lambda r: r["name"])
def test_cachekit_py_interop_values_are_read_and_written_byte_for_byte(client, agent, row):
    written = bytes.fromhex(row["canonical_msgpack_hex"])
    reader = cached(namespace="mixed", operation="value", client=client)(_never)
    key = reader.cache_key(row["name"])
    # cachekit-py (interop mode) PUTs the canonical bytes at the interop key.
    client.set(key, written, ttl=300, namespace="")
    assert reader(row["name"]) == decode_value(written)

    # The other way: an agent client computes the same value; the stored bytes are exactly
    # what cachekit-py's interop reader expects.
    client.delete(key, namespace="")
    writer = cached(namespace="mixed", operation="value", ttl=300, client=client)(
        lambda name: decode_value(written))
    assert writer.cache_key(row["name"]) == key
    assert writer(row["name"]) == decode_value(written)
    assert stored_bytes(agent, client, key) == written
    assert encode_value(decode_value(written)) == written


def test_cachekit_py_interop_ciphertext_is_read_and_written(client, agent):
    key = ENC["cache_key"]
    plain = bytes.fromhex(ENC["plaintext_hex"])
    aad = interop_aad(ENC["tenant_id"], key)
    assert aad.hex() == ENC["aad_hex"]
    reader = cached(namespace="users", operation="get_user", secure=True, client=client)(_never)
    assert reader.cache_key(42) == key  # the row's key is users:get_user over [42]
    # cachekit-py (interop mode, encrypted) PUTs nonce || ct || tag.
    client.set(key, bytes.fromhex(ENC["ciphertext_hex"]), ttl=300, namespace="")
    assert reader(42) == decode_value(plain)

    # The other way: the agent seals what its client computes; an interop/v1 reader opens it.
    client.delete(key, namespace="")
    writer = cached(namespace="users", operation="get_user", ttl=300, secure=True,
                    client=client)(lambda user_id: decode_value(plain))
    assert writer(42) == decode_value(plain)
    stored = stored_bytes(agent, client, key)
    assert stored is not None and plain not in stored
    tenant_key = derive(ENC["master_key_hex"], ENC["tenant_id"])
    assert AESGCM(tenant_key).decrypt(stored[:12], stored[12:], aad) == plain


@pytest.mark.parametrize("row", FRAMES["frame_vectors"] + FRAMES["encrypted_read_vectors"],
                         ids=lambda r: r["name"])
def test_cachekit_py_auto_mode_entries_are_reported_as_such(client, agent, row, caplog):
    frame = bytes.fromhex(row["frame_hex"])
    key = "mixed:auto:" + row["name"].replace("_", "-")
    client.set(key, frame, ttl=300, namespace="")
    for secure in (False, True):
        with pytest.raises(AutoModeEntry, match="auto mode"):
            client.get(key, secure=secure, namespace="")
    # The decorator treats it as a miss, says why, and computes.
    computed = []
    reader = cached(namespace="mixed", operation="auto", client=client)(
        lambda n: computed.append(n) or "fresh")
    client.set(reader.cache_key(1), frame, ttl=300, namespace="")
    with caplog.at_level(logging.WARNING, logger="cachekit_stub"):
        assert reader(1) == "fresh"
    assert computed == [1]
    assert "auto mode" in caplog.text


def test_cli_reports_an_auto_mode_entry(client, agent):
    ctl = os.environ.get("CK_CTL_BIN")
    if not ctl:
        pytest.skip("CK_CTL_BIN unset")
    frame = bytes.fromhex(FRAMES["frame_vectors"][0]["frame_hex"])
    client.set("mixed:cli:auto", frame, ttl=300, namespace="")
    out = subprocess.run([ctl, "--endpoint", agent.endpoint, "get", "mixed:cli:auto"],
                         capture_output=True, timeout=30)
    assert out.returncode != 0 and out.stdout == b""
    assert b"auto mode" in out.stderr

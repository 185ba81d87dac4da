"""The discovery wire format: what is accepted, everything that is dropped, and what verifies."""

from __future__ import annotations

import json

import pytest

from pycluster.net.protocol import (
    MAX_ANNOUNCE_SIZE,
    PROBE_SIZE,
    decode_announce,
    decode_probe,
    discovery_key,
    encode_announce,
    encode_probe,
)

CLUSTER_KEY = "protocol-test-cluster-key-0123456789abcdef"

INFO = {
    "cluster_name": "demo",
    "scheduler_address": "tcp://10.0.0.5:8786",
    "dashboard_url": "http://10.0.0.5:8787",
    "version": "0.1.0",
    "requires_key": True,
    "requires_token": False,
    "host": "10.0.0.5",
    "scheduler_port": 8786,
    "dashboard_port": 8787,
    "discovery_port": 8788,
    "api_token": "never-sent",
}


def test_probe_round_trip_and_padding() -> None:
    probe = encode_probe("n1")
    assert len(probe) == PROBE_SIZE
    assert decode_probe(probe) == "n1"


@pytest.mark.parametrize(
    "datagram",
    [
        b"",
        b"garbage",
        b"\xff\xfe" * 400,  # not UTF-8
        b"x" * 60_000,  # huge
        json.dumps(["pycluster", "discover"]).encode().ljust(PROBE_SIZE),  # not an object
        json.dumps({"pycluster": "discover", "v": 2, "nonce": "n"}).encode().ljust(PROBE_SIZE),  # version
        json.dumps({"pycluster": "discover", "v": 1, "nonce": "n"}).encode(),  # not padded: too short
        json.dumps({"pycluster": "discover", "v": 1, "nonce": "n" * 500}).encode().ljust(PROBE_SIZE),
        json.dumps({"pycluster": "discover", "v": 1, "nonce": 7}).encode().ljust(PROBE_SIZE),
        json.dumps({"pycluster": "announce", "v": 1, "nonce": "n"}).encode().ljust(PROBE_SIZE),
        b"[" * 2000,  # deeply nested
    ],
    ids=[
        "empty",
        "garbage",
        "binary",
        "huge",
        "array",
        "v2",
        "short",
        "long-nonce",
        "int-nonce",
        "announce",
        "nest",
    ],
)
def test_bad_probes_are_not_probes(datagram: bytes) -> None:
    assert decode_probe(datagram) is None


def test_announcement_carries_only_the_public_fields() -> None:
    data = encode_announce(INFO, "n1")
    assert b"never-sent" not in data and b"api_token" not in data
    assert len(data) <= MAX_ANNOUNCE_SIZE
    decoded = decode_announce(data, "n1")
    assert decoded == {**{k: v for k, v in INFO.items() if k != "api_token"}, "verified": False}


def test_announcement_for_another_probe_or_badly_typed_is_dropped() -> None:
    assert decode_announce(encode_announce(INFO, "n1"), "other") is None
    assert decode_announce(encode_announce({**INFO, "scheduler_port": True}, "n1"), "n1") is None
    assert decode_announce(encode_announce({**INFO, "cluster_name": None}, "n1"), "n1") is None
    assert decode_announce(b"x" * (MAX_ANNOUNCE_SIZE + 1), "n1") is None


def test_long_names_are_cut_to_keep_answers_small() -> None:
    data = encode_announce({**INFO, "cluster_name": "n" * 5000}, "n1")
    assert len(data) <= MAX_ANNOUNCE_SIZE
    assert len(decode_announce(data, "n1")["cluster_name"]) == 200  # type: ignore[index]


def test_a_signed_answer_verifies_only_with_the_same_key_and_the_same_probe() -> None:
    key = discovery_key(CLUSTER_KEY)
    data = encode_announce(INFO, "n1", key=key)
    assert len(data) <= MAX_ANNOUNCE_SIZE
    assert decode_announce(data, "n1", key)["verified"] is True  # type: ignore[index]
    assert decode_announce(data, "n1")["verified"] is False  # type: ignore[index]  # no key: cannot tell
    other = discovery_key(CLUSTER_KEY + "x")
    assert decode_announce(data, "n1", other)["verified"] is False  # type: ignore[index]
    assert decode_announce(data, "n2", key) is None  # answers another probe


def test_neither_the_key_nor_the_derived_key_is_sent() -> None:
    key = discovery_key(CLUSTER_KEY)
    assert key != CLUSTER_KEY.encode() and len(key) == 32
    data = encode_announce(INFO, "n1", key=key)
    for secret in (CLUSTER_KEY.encode(), key, key.hex().encode(), key[:8].hex().encode()):
        assert secret not in data
    assert sorted(json.loads(data)) == sorted(
        ["pycluster", "v", "nonce", "mac", *(k for k in INFO if k != "api_token")]
    )


def test_a_recorded_answer_replayed_to_a_new_probe_does_not_verify() -> None:
    key = discovery_key(CLUSTER_KEY)
    recorded = json.loads(encode_announce(INFO, "old-nonce", key=key))
    replayed = json.dumps({**recorded, "nonce": "new-nonce"}, separators=(",", ":")).encode()
    decoded = decode_announce(replayed, "new-nonce", key)
    assert decoded is not None and decoded["verified"] is False


@pytest.mark.parametrize(
    "change",
    [
        {"scheduler_address": "tcp://10.6.6.6:8786"},
        {"requires_key": False},
        {"requires_token": True},
        {"host": "0.0.0.0"},
        {"extra": "field"},  # even fields this version does not read are covered
        {"mac": "0" * 64},
        {"mac": None},
        {"mac": "zz"},
    ],
)
def test_any_change_to_a_signed_answer_breaks_it(change: dict) -> None:
    key = discovery_key(CLUSTER_KEY)
    forged = {**json.loads(encode_announce(INFO, "n1", key=key)), **change}
    decoded = decode_announce(json.dumps(forged).encode(), "n1", key)
    assert decoded is None or decoded["verified"] is False
    unsigned = {k: v for k, v in forged.items() if k != "mac"}
    decoded = decode_announce(json.dumps(unsigned).encode(), "n1", key)
    assert decoded is not None and decoded["verified"] is False


def test_the_mac_does_not_depend_on_key_order_or_spacing() -> None:
    key = discovery_key(CLUSTER_KEY)
    message = json.loads(encode_announce(INFO, "n1", key=key))
    reordered = json.dumps(dict(reversed(list(message.items()))), indent=1).encode()
    assert decode_announce(reordered, "n1", key)["verified"] is True  # type: ignore[index]


def test_an_answer_from_a_head_before_requires_token_is_read_as_the_token() -> None:
    old = {k: v for k, v in json.loads(encode_announce(INFO, "n1")).items() if k != "requires_token"}
    decoded = decode_announce(json.dumps(old).encode(), "n1", discovery_key(CLUSTER_KEY))
    assert decoded is not None
    assert decoded["requires_token"] is True and decoded["requires_key"] is None
    assert decoded["verified"] is False

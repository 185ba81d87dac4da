"""The discovery wire format: what is accepted, and everything that is dropped."""

from __future__ import annotations

import json

import pytest

from pycluster.net.protocol import (
    MAX_ANNOUNCE_SIZE,
    PROBE_SIZE,
    decode_announce,
    decode_probe,
    encode_announce,
    encode_probe,
)

INFO = {
    "cluster_name": "demo",
    "scheduler_address": "tcp://10.0.0.5:8786",
    "dashboard_url": "http://10.0.0.5:8787",
    "version": "0.1.0",
    "requires_key": True,
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
    assert decoded == {k: v for k, v in INFO.items() if k != "api_token"}


def test_announcement_for_another_probe_or_badly_typed_is_dropped() -> None:
    assert decode_announce(encode_announce(INFO, "n1"), "other") is None
    assert decode_announce(encode_announce({**INFO, "scheduler_port": True}, "n1"), "n1") is None
    assert decode_announce(encode_announce({**INFO, "cluster_name": None}, "n1"), "n1") is None
    assert decode_announce(b"x" * (MAX_ANNOUNCE_SIZE + 1), "n1") is None


def test_long_names_are_cut_to_keep_answers_small() -> None:
    data = encode_announce({**INFO, "cluster_name": "n" * 5000}, "n1")
    assert len(data) <= MAX_ANNOUNCE_SIZE
    assert len(decode_announce(data, "n1")["cluster_name"]) == 200  # type: ignore[index]

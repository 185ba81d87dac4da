"""The discovery protocol: one JSON probe over UDP, one JSON announcement back.

A probe is ``{"pycluster": "discover", "v": 1, "nonce": ...}`` padded to
:data:`PROBE_SIZE` bytes; a head answers ``{"pycluster": "announce", "v": 1,
"nonce": ..., "cluster_name": ..., ...}``. Anything else is not ours and is
dropped without a reply: garbage, a wrong version, a short probe, a huge datagram.

Probes are padded so that an answer is never much bigger than the question: a
forged source address cannot turn a head into a traffic amplifier.

>>> nonce = decode_probe(encode_probe("abc123"))
>>> nonce
'abc123'
>>> decode_probe(b"garbage") is None
True
"""

from __future__ import annotations

import json
from typing import Any

__all__ = [
    "ANNOUNCE_FIELDS",
    "MAX_ANNOUNCE_SIZE",
    "PROBE_SIZE",
    "PROTOCOL_VERSION",
    "decode_announce",
    "decode_probe",
    "encode_announce",
    "encode_probe",
]

PROTOCOL_VERSION = 1
MAGIC = "pycluster"
PROBE_SIZE = 512
# an announcement is at most twice the probe that asked for it
MAX_ANNOUNCE_SIZE = 2 * PROBE_SIZE
_MAX_NONCE = 64
_MAX_TEXT = 200

# what a head tells a stranger: enough to join, never the API key itself
ANNOUNCE_FIELDS: dict[str, type | tuple[type, ...]] = {
    "cluster_name": str,
    "scheduler_address": str,
    "dashboard_url": (str, type(None)),
    "version": str,
    "requires_key": bool,
    "host": str,
    "scheduler_port": int,
    "dashboard_port": (int, type(None)),
    "discovery_port": int,
}


def encode_probe(nonce: str) -> bytes:
    """A probe carrying ``nonce`` (echoed in every answer), padded to :data:`PROBE_SIZE` bytes."""
    body = {"pycluster": "discover", "v": PROTOCOL_VERSION, "nonce": nonce[:_MAX_NONCE], "pad": ""}
    size = len(json.dumps(body, separators=(",", ":")).encode())
    body["pad"] = "x" * max(0, PROBE_SIZE - size)
    return json.dumps(body, separators=(",", ":")).encode()


def decode_probe(data: bytes) -> str | None:
    """The probe's nonce, or None when ``data`` is not a well-formed probe of our version."""
    if not PROBE_SIZE <= len(data) <= 4 * PROBE_SIZE:
        return None
    message = _json_object(data)
    if message is None or message.get("pycluster") != "discover" or message.get("v") != PROTOCOL_VERSION:
        return None
    nonce = message.get("nonce")
    if not isinstance(nonce, str) or not 0 < len(nonce) <= _MAX_NONCE:
        return None
    return nonce


def encode_announce(info: dict[str, Any], nonce: str) -> bytes:
    """An announcement of ``info`` (only :data:`ANNOUNCE_FIELDS`), answering ``nonce``."""
    body: dict[str, Any] = {"pycluster": "announce", "v": PROTOCOL_VERSION, "nonce": nonce}
    for name in ANNOUNCE_FIELDS:
        value = info.get(name)
        body[name] = value[:_MAX_TEXT] if isinstance(value, str) else value
    data = json.dumps(body, separators=(",", ":")).encode()
    if len(data) > MAX_ANNOUNCE_SIZE:
        raise ValueError(f"announcement is {len(data)} bytes; the limit is {MAX_ANNOUNCE_SIZE}")
    return data


def decode_announce(data: bytes, nonce: str) -> dict[str, Any] | None:
    """The announced fields, or None unless ``data`` answers ``nonce`` in our version and shape."""
    if len(data) > MAX_ANNOUNCE_SIZE:
        return None
    message = _json_object(data)
    if message is None or message.get("pycluster") != "announce" or message.get("v") != PROTOCOL_VERSION:
        return None
    if message.get("nonce") != nonce:
        return None
    fields = {name: message.get(name) for name in ANNOUNCE_FIELDS}
    if not all(_matches(fields[name], kind) for name, kind in ANNOUNCE_FIELDS.items()):
        return None
    return fields


def _matches(value: Any, kind: type | tuple[type, ...]) -> bool:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    # bool is an int in Python: a port of `true` must not pass as a number
    if isinstance(value, bool):
        return bool in kinds
    return isinstance(value, kinds)


def _json_object(data: bytes) -> dict[str, Any] | None:
    try:
        message = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    return message if isinstance(message, dict) else None

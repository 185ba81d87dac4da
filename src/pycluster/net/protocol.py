"""The discovery protocol: one JSON probe over UDP, one JSON announcement back.

A probe is ``{"pycluster": "discover", "v": 1, "nonce": ...}`` padded to
:data:`PROBE_SIZE` bytes; a head answers ``{"pycluster": "announce", "v": 1,
"nonce": ..., "cluster_name": ..., ..., "mac": ...}``. Anything else is not ours and
is dropped without a reply: garbage, a wrong version, a short probe, a huge datagram.

Probes are padded so that an answer is never much bigger than the question: a
forged source address cannot turn a head into a traffic amplifier.

Anyone on the network can answer a probe, so a head with a cluster key proves it
holds the key: ``mac`` is HMAC-SHA256, keyed by :func:`discovery_key` (derived from
the cluster key (through the cluster CA's seed) under a fixed label; neither is ever sent), over a fixed
label, the probe's nonce and the answer's canonical bytes (:func:`canonical_bytes`:
every field but ``mac``, JSON with sorted keys and no spaces). The nonce is fresh
and random per probe, so a recorded answer does not verify against a later probe.
A head without a key sends no ``mac``; its answers can never be verified.

``requires_key`` says whether the scheduler needs the cluster key (TLS);
``requires_token`` whether the web API needs an API token. Answers from heads that
predate ``requires_token`` used ``requires_key`` for the token: they are read as
``requires_token`` = their ``requires_key`` and ``requires_key`` = None (unknown).

>>> nonce = decode_probe(encode_probe("abc123"))
>>> nonce
'abc123'
>>> decode_probe(b"garbage") is None
True
>>> key = discovery_key("correct horse battery staple")
>>> answer = encode_announce({"cluster_name": "a", "scheduler_address": "tls://10.0.0.5:8786",
...                           "version": "0.1.0", "requires_key": True, "requires_token": False,
...                           "host": "10.0.0.5", "scheduler_port": 8786, "discovery_port": 8788},
...                          "abc123", key=key)
>>> decode_announce(answer, "abc123", key=key)["verified"]
True
>>> decode_announce(answer, "abc123")["verified"]  # no key here: nothing to check it with
False
>>> decode_announce(answer, "abc123", key=discovery_key("another key entirely"))["verified"]
False
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
from typing import Any

from ..cluster.security import derived_secret

__all__ = [
    "ANNOUNCE_FIELDS",
    "MAX_ANNOUNCE_SIZE",
    "PROBE_SIZE",
    "PROTOCOL_VERSION",
    "canonical_bytes",
    "decode_announce",
    "decode_probe",
    "discovery_key",
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
# the discovery MAC key: derived from the cluster CA's seed under its own label, so an answer (which
# anyone may ask for) lets a guessed key be checked no faster than the cluster CA allows
_KEY_LABEL = b"pycluster discovery v1"
_MAC_LABEL = b"pycluster discovery announce v1\x00"
_MAC_FIELD = "mac"
_MAC_HEX = 64

# what a head tells a stranger: enough to join, never the cluster key or API token themselves
ANNOUNCE_FIELDS: dict[str, type | tuple[type, ...]] = {
    "cluster_name": str,
    "scheduler_address": str,
    "dashboard_url": (str, type(None)),
    "version": str,
    "requires_key": (bool, type(None)),  # the scheduler needs the cluster key (TLS); None: unknown
    "requires_token": (bool, type(None)),  # the web API needs an API token; None: unknown
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


@functools.lru_cache(maxsize=8)
def discovery_key(cluster_key: str | bytes) -> bytes:
    """The key that signs discovery answers, derived from the cluster key (never sent, never the key).

    Derived from the cluster CA's seed under the label ``pycluster discovery v1``: an
    answer's MAC is public, so checking a guessed cluster key against it costs what a
    guess against the cluster CA costs (scrypt for a chosen key), not one HMAC; a
    generated key (256 random bits) needs no stretching and costs microseconds.
    """
    text = cluster_key.decode("utf-8", "surrogateescape") if isinstance(cluster_key, bytes) else cluster_key
    return derived_secret(text, _KEY_LABEL)


def canonical_bytes(message: dict[str, Any]) -> bytes:
    """What the MAC covers: every field of ``message`` but ``mac``, as JSON with sorted keys.

    >>> canonical_bytes({"b": 1, "a": "x", "mac": "ff"})
    b'{"a":"x","b":1}'
    """
    body = {k: v for k, v in message.items() if k != _MAC_FIELD}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _mac(key: bytes, nonce: str, message: dict[str, Any]) -> str:
    signed = _MAC_LABEL + nonce.encode("utf-8", "surrogatepass") + b"\x00" + canonical_bytes(message)
    return hmac.new(key, signed, hashlib.sha256).hexdigest()


def encode_announce(info: dict[str, Any], nonce: str, key: bytes | None = None) -> bytes:
    """An announcement of ``info`` (only :data:`ANNOUNCE_FIELDS`), answering ``nonce``.

    With ``key`` (a :func:`discovery_key`) it carries ``mac``, which proves to a holder
    of the cluster key that this head holds it too and answered this very probe.
    """
    body: dict[str, Any] = {"pycluster": "announce", "v": PROTOCOL_VERSION, "nonce": nonce}
    for name in ANNOUNCE_FIELDS:
        value = info.get(name)
        body[name] = value[:_MAX_TEXT] if isinstance(value, str) else value
    if key is not None:
        body[_MAC_FIELD] = _mac(key, nonce, body)
    data = json.dumps(body, separators=(",", ":")).encode()
    if len(data) > MAX_ANNOUNCE_SIZE:
        raise ValueError(f"announcement is {len(data)} bytes; the limit is {MAX_ANNOUNCE_SIZE}")
    return data


def decode_announce(data: bytes, nonce: str, key: bytes | None = None) -> dict[str, Any] | None:
    """The announced fields and ``verified``, or None unless ``data`` answers ``nonce`` in our
    version and shape.

    ``verified`` is True only when ``key`` (a :func:`discovery_key`) is given and the
    answer's ``mac`` checks out over this nonce and every byte that matters; an answer
    without a MAC, with a wrong one, or read without a key is returned with ``verified``
    False: fine to show, never to join.
    """
    if len(data) > MAX_ANNOUNCE_SIZE:
        return None
    message = _json_object(data)
    if message is None or message.get("pycluster") != "announce" or message.get("v") != PROTOCOL_VERSION:
        return None
    if message.get("nonce") != nonce:
        return None
    if "requires_token" not in message and isinstance(message.get("requires_key"), bool):
        # a head from before requires_token: its requires_key meant the API token
        message = {**message, "requires_token": message["requires_key"], "requires_key": None}
        legacy = True
    else:
        legacy = False
    fields = {name: message.get(name) for name in ANNOUNCE_FIELDS}
    if not all(_matches(fields[name], kind) for name, kind in ANNOUNCE_FIELDS.items()):
        return None
    fields["verified"] = not legacy and key is not None and _verify(key, nonce, message)
    return fields


def _verify(key: bytes, nonce: str, message: dict[str, Any]) -> bool:
    mac = message.get(_MAC_FIELD)
    if not isinstance(mac, str) or len(mac) != _MAC_HEX:
        return False
    return hmac.compare_digest(mac.encode("ascii", "replace"), _mac(key, nonce, message).encode())


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

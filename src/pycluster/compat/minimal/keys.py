"""minimalcluster's AUTHKEY -> a pycluster cluster key.

The cluster key is ``"minimalcluster:" + AUTHKEY`` (bytes decoded as UTF-8). So a
``pycluster worker`` joins a MasterNode with ``PYCLUSTER_AUTH_KEY=minimalcluster:<AUTHKEY>``.
The prefix is public, so it adds nothing to the key's strength: only the AUTHKEY is
estimated (:func:`check_authkey`). minimalcluster's users have short AUTHKEYs like
``b'hello'``; a master on loopback still takes them, with a warning, but one open to the
network refuses them unless ``weak_key_ok=True`` (see docs/security.md).
"""

from __future__ import annotations

from ...cluster.ports import is_loopback
from ...cluster.security import check_key_strength, generate_key
from ...errors import AuthenticationError

__all__ = ["PREFIX", "check_authkey", "cluster_key"]

PREFIX = "minimalcluster:"


def cluster_key(authkey: str | bytes | None) -> tuple[str, str]:
    """(the AUTHKEY as text, the cluster key); a random AUTHKEY when None, as the original does."""
    if authkey is None:
        text = generate_key()
    elif isinstance(authkey, bytes):
        text = authkey.decode("utf-8", "surrogateescape")
    elif isinstance(authkey, str):
        text = authkey
    else:
        raise AuthenticationError(f"AUTHKEY must be str, bytes or None, got {type(authkey).__name__}")
    if not text:
        raise AuthenticationError("AUTHKEY is empty: give the cluster a secret (see pycluster.minimal)")
    return text, PREFIX + text


def check_authkey(text: str, host: str, weak_key_ok: bool = False) -> None:
    """Refuse a guessable AUTHKEY on a master open to the network, before anything starts.

    Estimates the AUTHKEY alone (the prefix is public). On loopback, or with ``weak_key_ok``,
    nothing is refused here: the head warns about a weak key when it starts.
    """
    if weak_key_ok or is_loopback(host):
        return
    try:
        check_key_strength(text, host)
    except AuthenticationError as exc:
        raise AuthenticationError(
            f"AUTHKEY: {exc}. For MasterNode: pass AUTHKEY=None (a random one is made) or a long random "
            "secret, or MasterNode(..., weak_key_ok=True) to accept the risk"
        ) from None

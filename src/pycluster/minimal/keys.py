"""minimalcluster's AUTHKEY -> a pycluster cluster key.

The cluster key is ``"minimalcluster:" + AUTHKEY`` (bytes decoded as UTF-8). So a
``pycluster worker`` joins a MasterNode with ``PYCLUSTER_AUTH_KEY=minimalcluster:<AUTHKEY>``.
minimalcluster's users have short AUTHKEYs like ``b'hello'``; they still work, with a
warning, because a short key can be guessed (see README "Cluster keys").
"""

from __future__ import annotations

import warnings

from ..cluster.security import MIN_KEY_LENGTH, generate_key
from ..errors import AuthenticationError

__all__ = ["PREFIX", "cluster_key"]

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
        raise AuthenticationError("AUTHKEY is empty: give the cluster a secret (16+ random characters)")
    if len(text) < MIN_KEY_LENGTH:
        warnings.warn(
            f"AUTHKEY has {len(text)} characters: anyone who can reach the port can guess a short key "
            f"offline. Use {MIN_KEY_LENGTH}+ random characters on any network but your own machine.",
            UserWarning,
            stacklevel=3,
        )
    return text, PREFIX + text

"""Find head nodes by asking: one UDP probe, every answer within the timeout.

Anyone on the network can answer a probe, so every result says whether it was
``verified``: signed by a head that holds the same cluster key as this caller, for
this probe (see :mod:`pycluster.net.protocol`). Listing shows every answer;
joining (:func:`find_cluster`, :func:`choose_cluster`, ``pycluster worker
--discover``) takes only verified ones unless told it may do without.

>>> clusters = discover_clusters_broadcast(timeout=2, auth_key=key)  # doctest: +SKIP
>>> [(c["scheduler_address"], c["verified"]) for c in clusters]  # doctest: +SKIP
[('tls://192.168.1.100:8786', True)]
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import ConfigError, DiscoveryError
from .interfaces import broadcast_addresses
from .protocol import MAX_ANNOUNCE_SIZE, decode_announce, discovery_key, encode_probe

__all__ = ["choose_cluster", "describe_cluster", "discover_clusters_broadcast", "find_cluster", "probe_head"]

logger = logging.getLogger(__name__)

DEFAULT_DISCOVERY_PORT = 8788
LIMITED_BROADCAST = "255.255.255.255"
_WILDCARDS = {"", "0.0.0.0", "::"}


def discover_clusters_broadcast(
    timeout: float = 5,
    broadcast_address: str | Sequence[str] | None = None,
    port: int = DEFAULT_DISCOVERY_PORT,
    auth_key: str | None = None,
) -> list[dict[str, Any]]:
    """Send one discovery probe and return every head that answered within ``timeout`` seconds, by name.

    ``broadcast_address`` may be a broadcast address (``192.168.1.255``), a single
    head's address, or several; ``None`` means the limited broadcast plus every
    interface's broadcast address. ``auth_key`` (default: ``PYCLUSTER_AUTH_KEY``) is the
    cluster key answers are checked with. Each result has ``cluster_name``,
    ``scheduler_address``, ``dashboard_url``, ``version``, ``requires_key`` (the
    scheduler needs the cluster key), ``requires_token`` (the web API needs an API
    token), ``verified`` (the answer proved it comes from a head holding ``auth_key``),
    ``host`` (where the answer came from), ``discovery_port`` and ``latency_ms``.
    Unverified answers are listed too: anyone can send one, so show them, never join them.
    """
    return _discover(_targets(broadcast_address), port, timeout, _key_for(auth_key))


def probe_head(
    host: str, port: int = DEFAULT_DISCOVERY_PORT, timeout: float = 1.0, auth_key: str | None = None
) -> dict[str, Any] | None:
    """Ask one host directly (unicast); its announcement as soon as it comes, or None after ``timeout``.

    The announcement's ``verified`` says whether it proved it holds ``auth_key``
    (default: ``PYCLUSTER_AUTH_KEY``).
    """
    found = _discover([_literal(host)], port, timeout, _key_for(auth_key), enough=1)
    return found[0] if found else None


def find_cluster(
    timeout: float = 5,
    broadcast_address: str | Sequence[str] | None = None,
    port: int = DEFAULT_DISCOVERY_PORT,
    auth_key: str | None = None,
    insecure: bool = False,
    ask: Callable[[list[dict[str, Any]]], int] | None = None,
) -> dict[str, Any]:
    """The head to join, found by discovery: only a verified answer, unless ``insecure``.

    With a cluster key (``auth_key``, default ``PYCLUSTER_AUTH_KEY``) only answers that
    prove the head holds the same key count. Without one nothing can be verified, so this
    refuses (:class:`DiscoveryError`) before sending anything, unless ``insecure`` says
    that any answer will do (anyone on the network can then pose as the head, and a
    scheduler runs code on the workers that join it). Several candidates: ``ask`` picks
    one, as in :func:`choose_cluster`.
    """
    key = _key_for(auth_key)
    if key is None and not insecure:
        raise DiscoveryError(
            "--discover without a cluster key cannot tell a real head from anyone else on the network "
            "answering the probe (a fake scheduler can run code on this worker). Pass the head's key "
            "with --auth-key or PYCLUSTER_AUTH_KEY (auth_key= in Python), or --scheduler ADDRESS; or "
            "--insecure (insecure=True) to join an unauthenticated answer on a network you fully trust"
        )
    clusters = _discover(_targets(broadcast_address), port, timeout, key)
    return choose_cluster(clusters, ask, require_verified=key is not None)


def _key_for(auth_key: str | None) -> bytes | None:
    key = auth_key or os.environ.get("PYCLUSTER_AUTH_KEY") or None
    return discovery_key(key) if key else None


def _discover(
    targets: list[str], port: int, timeout: float, key: bytes | None = None, enough: int | None = None
) -> list[dict[str, Any]]:
    _check_port(port)
    timeout = _check_timeout(timeout)
    nonce = secrets.token_hex(16)  # 128 random bits: a recorded answer never fits a later probe
    with _probe_socket(targets) as sock:
        started = time.monotonic()
        for target in targets:
            _send(sock, encode_probe(nonce), (target, port))
        return _collect(sock, nonce, key, started, started + timeout, enough)


def choose_cluster(
    clusters: list[dict[str, Any]],
    ask: Callable[[list[dict[str, Any]]], int] | None = None,
    require_verified: bool = True,
) -> dict[str, Any]:
    """The one cluster found; when several answered, the one ``ask`` picks (an index).

    With ``require_verified`` (the default) only answers whose ``verified`` is true are
    candidates: one that cannot prove it holds the cluster key is never chosen, and
    when none can the error counts them. Without ``ask`` (nobody to ask, e.g. no
    terminal) several candidates are an error that lists them.

    >>> found = [{"cluster_name": "a", "scheduler_address": "tls://10.0.0.5:8786", "dashboard_url": None,
    ...           "verified": True},
    ...          {"cluster_name": "b", "scheduler_address": "tls://10.0.0.6:8786", "dashboard_url": None,
    ...           "verified": True}]
    >>> choose_cluster(found[:1])["cluster_name"]
    'a'
    >>> choose_cluster(found, ask=lambda clusters: 1)["cluster_name"]
    'b'
    >>> choose_cluster([{**found[0], "verified": False}])
    Traceback (most recent call last):
    ...
    pycluster.errors.DiscoveryError: 1 head answered but none proved it holds the cluster key ...
    """
    if not clusters:
        raise DiscoveryError(
            "no pycluster head answered the discovery probe. Check that the head runs with "
            "discovery on (UDP 8788 by default) and reachable from here, that no firewall "
            "blocks UDP, or pass the scheduler address yourself: --scheduler tcp://HEAD:8786"
        )
    if require_verified:
        unverified = [c for c in clusters if not c.get("verified")]
        for cluster in unverified:
            logger.debug("discovery: skipped an answer that did not verify: %s", describe_cluster(cluster))
        clusters = [c for c in clusters if c.get("verified")]
        if not clusters:
            heads = "head" if len(unverified) == 1 else "heads"
            raise DiscoveryError(
                f"{len(unverified)} {heads} answered but none proved it holds the cluster key "
                "(a head with a different key or none, an old version, or someone posing as a head). "
                "Check that this key is the head's, or pass the scheduler address yourself: "
                "--scheduler tls://HEAD:8786"
            )
    if len(clusters) == 1:
        return clusters[0]
    if ask is None:
        listing = "\n".join(f"  {describe_cluster(c)}" for c in clusters)
        raise DiscoveryError(
            f"{len(clusters)} clusters answered and there is no terminal to ask which one to join:\n"
            f"{listing}\nPass the one you want with --scheduler ADDRESS."
        )
    return clusters[ask(clusters)]


def describe_cluster(cluster: dict[str, Any]) -> str:
    """One line: name, scheduler address, dashboard, what it needs, and whether the answer verified.

    >>> describe_cluster({"cluster_name": "a", "scheduler_address": "tls://10.0.0.5:8786",
    ...                   "dashboard_url": "http://10.0.0.5:8787", "requires_key": True,
    ...                   "requires_token": False, "verified": True})
    "'a' at tls://10.0.0.5:8786 (dashboard http://10.0.0.5:8787, needs the cluster key, verified)"
    """
    notes = [f"dashboard {cluster.get('dashboard_url')}"]
    if cluster.get("requires_key"):
        notes.append("needs the cluster key")
    if cluster.get("requires_token"):
        notes.append("needs an API token")
    notes.append("verified" if cluster.get("verified") else "NOT verified")
    return f"{cluster.get('cluster_name')!r} at {cluster.get('scheduler_address')} ({', '.join(notes)})"


def _targets(broadcast_address: str | Sequence[str] | None) -> list[str]:
    if broadcast_address is None:
        return [LIMITED_BROADCAST, *broadcast_addresses()]
    given = [broadcast_address] if isinstance(broadcast_address, str) else list(broadcast_address)
    if not given:
        raise ConfigError("broadcast_address is empty; give an address such as 192.168.1.255, or None")
    return [_literal(a) for a in given]


def _literal(address: str) -> str:
    try:
        return str(ipaddress.ip_address(str(address).strip()))
    except ValueError:
        raise ConfigError(
            f"{address!r} is not an IP address; give a broadcast address such as 192.168.1.255 "
            "or a head's address such as 192.168.1.100"
        ) from None


def _check_port(port: int) -> None:
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ConfigError(f"discovery port must be from 1 to 65535, got {port!r}")


def _check_timeout(timeout: float) -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ConfigError(f"timeout must be a positive number of seconds, got {timeout!r}")
    return float(timeout)


def _probe_socket(targets: list[str]) -> socket.socket:
    family = socket.AF_INET6 if all(":" in t for t in targets) else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    if family == socket.AF_INET:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    sock.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", 0))
    return sock


def _send(sock: socket.socket, data: bytes, target: tuple[str, int]) -> None:
    # one unreachable target (no route, no such interface) must not stop the others
    with contextlib.suppress(OSError):
        sock.sendto(data, target)


def _collect(
    sock: socket.socket, nonce: str, key: bytes | None, started: float, deadline: float, enough: int | None
) -> list[dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    while (remaining := deadline - time.monotonic()) > 0 and len(found) != enough:
        sock.settimeout(remaining)
        try:
            data, addr = sock.recvfrom(MAX_ANNOUNCE_SIZE + 1)
        except TimeoutError:
            break
        except OSError:  # Windows reports an earlier ICMP "port unreachable" here
            continue
        announced = decode_announce(data, nonce, key)
        if announced is None:
            logger.debug("discovery: dropped a datagram from %s that does not answer our probe", addr[0])
            continue
        if key is not None and not announced["verified"]:
            logger.debug("discovery: the answer from %s did not prove it holds the cluster key", addr[0])
        cluster = _as_result(announced, addr[0], time.monotonic() - started)
        earlier = found.get(cluster["scheduler_address"])
        # a forged answer naming a real head's address must not hide that head's genuine answer
        if earlier is None or (cluster["verified"] and not earlier["verified"]):
            found[cluster["scheduler_address"]] = cluster
    # by name, not arrival order: a numbered list to choose from must not reshuffle between runs
    return sorted(found.values(), key=lambda c: (c["cluster_name"], c["scheduler_address"]))


def _as_result(announced: dict[str, Any], sender: str, elapsed: float) -> dict[str, Any]:
    result = {**announced, "host": sender, "bind_host": announced["host"]}
    if announced["host"] in _WILDCARDS:
        # a head on all interfaces cannot know which of its addresses we reach: use the one that answered.
        # The MAC cannot cover that address; with a key, TLS to the scheduler still proves who is there
        # (whoever relayed a genuine answer can at most relay the connection, or drop it)
        scheme = announced["scheduler_address"].split("://", 1)[0]
        host = f"[{sender}]" if ":" in sender else sender
        result["scheduler_address"] = f"{scheme}://{host}:{announced['scheduler_port']}"
        if announced["dashboard_port"] is not None:
            result["dashboard_url"] = f"http://{host}:{announced['dashboard_port']}"
    result["latency_ms"] = round(elapsed * 1000, 2)
    return result

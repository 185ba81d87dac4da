"""Find head nodes by asking: one UDP probe, every answer within the timeout.

>>> clusters = discover_clusters_broadcast(timeout=2)  # doctest: +SKIP
>>> [c["scheduler_address"] for c in clusters]  # doctest: +SKIP
['tcp://192.168.1.100:8786']
"""

from __future__ import annotations

import contextlib
import ipaddress
import secrets
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import ConfigError, DiscoveryError
from .interfaces import broadcast_addresses
from .protocol import MAX_ANNOUNCE_SIZE, decode_announce, encode_probe

__all__ = ["choose_cluster", "describe_cluster", "discover_clusters_broadcast", "probe_head"]

DEFAULT_DISCOVERY_PORT = 8788
LIMITED_BROADCAST = "255.255.255.255"
_WILDCARDS = {"", "0.0.0.0", "::"}


def discover_clusters_broadcast(
    timeout: float = 5,
    broadcast_address: str | Sequence[str] | None = None,
    port: int = DEFAULT_DISCOVERY_PORT,
) -> list[dict[str, Any]]:
    """Send one discovery probe and return every head that answered within ``timeout`` seconds, by name.

    ``broadcast_address`` may be a broadcast address (``192.168.1.255``), a single
    head's address, or several; ``None`` means the limited broadcast plus every
    interface's broadcast address. Each result has ``cluster_name``,
    ``scheduler_address``, ``dashboard_url``, ``version``, ``requires_key``,
    ``host`` (where the answer came from), ``discovery_port`` and ``latency_ms``.
    """
    return _discover(_targets(broadcast_address), port, timeout)


def probe_head(host: str, port: int = DEFAULT_DISCOVERY_PORT, timeout: float = 1.0) -> dict[str, Any] | None:
    """Ask one host directly (unicast); its announcement as soon as it comes, or None after ``timeout``."""
    found = _discover([_literal(host)], port, timeout, enough=1)
    return found[0] if found else None


def _discover(
    targets: list[str], port: int, timeout: float, enough: int | None = None
) -> list[dict[str, Any]]:
    _check_port(port)
    timeout = _check_timeout(timeout)
    nonce = secrets.token_hex(8)
    with _probe_socket(targets) as sock:
        started = time.monotonic()
        for target in targets:
            _send(sock, encode_probe(nonce), (target, port))
        return _collect(sock, nonce, started, started + timeout, enough)


def choose_cluster(
    clusters: list[dict[str, Any]], ask: Callable[[list[dict[str, Any]]], int] | None = None
) -> dict[str, Any]:
    """The one cluster found; when several answered, the one ``ask`` picks (an index).

    Without ``ask`` (nobody to ask, e.g. no terminal) several answers are an error
    that lists them.

    >>> found = [{"cluster_name": "a", "scheduler_address": "tcp://10.0.0.5:8786", "dashboard_url": None},
    ...          {"cluster_name": "b", "scheduler_address": "tcp://10.0.0.6:8786", "dashboard_url": None}]
    >>> choose_cluster(found[:1])["cluster_name"]
    'a'
    >>> choose_cluster(found, ask=lambda clusters: 1)["cluster_name"]
    'b'
    """
    if not clusters:
        raise DiscoveryError(
            "no pycluster head answered the discovery probe. Check that the head runs with "
            "discovery on (UDP 8788 by default) and reachable from here, that no firewall "
            "blocks UDP, or pass the scheduler address yourself: --scheduler tcp://HEAD:8786"
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
    """One line: name, scheduler address, dashboard and whether a key is needed.

    >>> describe_cluster({"cluster_name": "a", "scheduler_address": "tcp://10.0.0.5:8786",
    ...                   "dashboard_url": "http://10.0.0.5:8787", "requires_key": True})
    "'a' at tcp://10.0.0.5:8786 (dashboard http://10.0.0.5:8787, needs an API key)"
    """
    key = ", needs an API key" if cluster.get("requires_key") else ""
    where = f"{cluster['scheduler_address']} (dashboard {cluster['dashboard_url']}{key})"
    return f"{cluster['cluster_name']!r} at {where}"


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
    sock: socket.socket, nonce: str, started: float, deadline: float, enough: int | None
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
        announced = decode_announce(data, nonce)
        if announced is not None:
            cluster = _as_result(announced, addr[0], time.monotonic() - started)
            found.setdefault(cluster["scheduler_address"], cluster)
    # by name, not arrival order: a numbered list to choose from must not reshuffle between runs
    return sorted(found.values(), key=lambda c: (c["cluster_name"], c["scheduler_address"]))


def _as_result(announced: dict[str, Any], sender: str, elapsed: float) -> dict[str, Any]:
    result = {**announced, "host": sender, "bind_host": announced["host"]}
    if announced["host"] in _WILDCARDS:
        # a head on all interfaces cannot know which of its addresses we reach: use the one that answered
        scheme = announced["scheduler_address"].split("://", 1)[0]
        host = f"[{sender}]" if ":" in sender else sender
        result["scheduler_address"] = f"{scheme}://{host}:{announced['scheduler_port']}"
        if announced["dashboard_port"] is not None:
            result["dashboard_url"] = f"http://{host}:{announced['dashboard_port']}"
    result["latency_ms"] = round(elapsed * 1000, 2)
    return result

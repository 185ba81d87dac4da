"""This machine's network interfaces, and the broadcast addresses discovery uses.

>>> any(i["ip"] == "127.0.0.1" for i in get_network_interfaces())  # doctest: +SKIP
True
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import psutil

__all__ = ["broadcast_addresses", "get_network_interfaces", "interface_broadcast"]

# name prefixes of interfaces that are not a physical network card
_VIRTUAL_PREFIXES = (
    "veth", "docker", "br-", "virbr", "vmnet", "vboxnet", "vethernet", "tun", "tap",
    "wg", "zt", "tailscale", "utun", "lxc", "lxd", "cni", "flannel", "podman", "ifb",
)  # fmt: skip
_WIRELESS_WORDS = ("wlan", "wlp", "wifi", "wi-fi", "wireless", "airport")


def get_network_interfaces(include_loopback: bool = True, include_down: bool = False) -> list[dict[str, Any]]:
    """One dict per IP address of each interface: ``name``, ``ip``, ``netmask``,
    ``broadcast``, ``family`` (IPv4/IPv6), ``type`` (loopback, ethernet, wireless,
    virtual: a guess from the name), ``is_up``, ``mtu``, ``speed_mbps``, ``mac``.

    >>> rows = get_network_interfaces()
    >>> sorted(rows[0]) == sorted(["name", "ip", "netmask", "broadcast", "family", "type",
    ...     "is_up", "mtu", "speed_mbps", "mac"])
    True
    """
    stats = psutil.net_if_stats()
    rows: list[dict[str, Any]] = []
    for name, addresses in psutil.net_if_addrs().items():
        stat = stats.get(name)
        is_up = bool(stat and stat.isup)
        mac = next((a.address for a in addresses if a.family == psutil.AF_LINK), None)
        for address in addresses:
            row = _row(name, address, is_up, stat, mac)
            if row is None or (row["type"] == "loopback" and not include_loopback):
                continue
            if is_up or include_down:
                rows.append(row)
    return rows


def _row(name: str, address: Any, is_up: bool, stat: Any, mac: str | None) -> dict[str, Any] | None:
    if address.family not in (socket.AF_INET, socket.AF_INET6):
        return None
    ip = address.address
    return {
        "name": name,
        "ip": ip,
        "netmask": address.netmask,
        "broadcast": _broadcast(ip, address.netmask, address.broadcast),
        "family": "IPv4" if address.family == socket.AF_INET else "IPv6",
        "type": _kind(name, ip),
        "is_up": is_up,
        "mtu": stat.mtu if stat else None,
        "speed_mbps": stat.speed if stat and stat.speed else None,
        "mac": mac,
    }


def _kind(name: str, ip: str) -> str:
    if ipaddress.ip_address(ip.split("%", 1)[0]).is_loopback:
        return "loopback"
    lowered = name.lower()
    if lowered.startswith(_VIRTUAL_PREFIXES):
        return "virtual"
    if any(word in lowered for word in _WIRELESS_WORDS) or lowered.startswith("wl"):
        return "wireless"
    return "ethernet"


def _broadcast(ip: str, netmask: str | None, reported: str | None) -> str | None:
    """The interface's IPv4 broadcast address.

    Windows reports none, and Linux reports the address itself for an address
    added without one (``ip addr add 10.0.0.1/24``): then it comes from the mask.
    """
    if not netmask or ":" in ip:
        return None
    if reported and reported != ip:
        return reported
    network = ipaddress.IPv4Network(f"{ip}/{netmask}", strict=False)
    if network.prefixlen >= 31 or network.is_loopback:
        return None
    return str(network.broadcast_address)


def interface_broadcast(ip: str) -> str | None:
    """The broadcast address of the interface that holds ``ip`` (None: loopback, IPv6, not found)."""
    for row in get_network_interfaces(include_down=True):
        if row["ip"] == ip and row["family"] == "IPv4" and row["type"] != "loopback":
            return str(row["broadcast"]) if row["broadcast"] else None
    return None


def broadcast_addresses() -> list[str]:
    """The IPv4 broadcast address of every interface that is up (loopback excluded)."""
    found = [
        str(r["broadcast"])
        for r in get_network_interfaces(include_loopback=False)
        if r["family"] == "IPv4" and r["broadcast"]
    ]
    return list(dict.fromkeys(found))

"""Which subnets a scan with no range covers: a pure function of the interfaces (no traffic)."""

from __future__ import annotations

from typing import Any

from pycluster import NetworkDiscovery
from pycluster.compat.network import merge_nodes
from pycluster.net.scan import MAX_SCAN_HOSTS, local_scan_ranges, scan_network_for_clusters


def row(
    ip: str, netmask: str, kind: str = "ethernet", up: bool = True, family: str = "IPv4"
) -> dict[str, Any]:
    return {"name": "x", "ip": ip, "netmask": netmask, "family": family, "type": kind, "is_up": up}


def test_each_up_ipv4_subnet_is_scanned_at_most_a_24_around_the_address() -> None:
    interfaces = [
        row("127.0.0.1", "255.0.0.0", "loopback"),
        row("10.20.30.40", "255.255.0.0"),  # a /16: only the /24 holding the address
        row("192.168.5.7", "255.255.255.0", "wireless"),
        row("172.17.0.1", "255.255.0.0", "virtual"),
        row("192.168.9.1", "255.255.255.0", up=False),  # down
        row("fe80::1", "ffff:ffff:ffff:ffff::", family="IPv6"),  # a /64 cannot be scanned
        row("169.254.3.4", "255.255.0.0"),  # link-local: no address was given to it
        row("10.0.0.9", "255.255.255.252"),  # narrower than a /24 stays as it is
        row("10.20.30.41", "255.255.0.0"),  # a second address in the same /24
    ]
    assert local_scan_ranges(interfaces) == [
        "10.20.30.0/24",
        "10.0.0.8/30",
        "192.168.5.0/24",
        "172.17.0.0/24",
    ]


def test_loopback_only_when_asked() -> None:
    only_loopback = [row("127.0.0.1", "255.0.0.0", "loopback")]
    assert local_scan_ranges(only_loopback) == []
    assert local_scan_ranges(only_loopback, include_loopback=True) == ["127.0.0.0/24"]


def test_many_interfaces_stay_within_the_scan_bound() -> None:
    bridges = [row(f"172.{16 + i}.0.1", "255.255.0.0", "virtual") for i in range(40)]
    ranges = local_scan_ranges([*bridges, row("10.1.1.1", "255.255.255.0")])
    assert ranges[0] == "10.1.1.0/24"  # the real network first
    assert len(ranges) * 256 <= MAX_SCAN_HOSTS and len(ranges) == MAX_SCAN_HOSTS // 256


def test_a_list_of_loopback_ranges_is_scanned() -> None:
    # nothing listens on these ports in 127.0.0.0/30 and 127.0.1.0/31: an empty answer, quickly
    assert scan_network_for_clusters(["127.0.0.0/30", "127.0.1.0/31"], ports=[1], timeout=0.1) == []


def test_discovery_answer_and_scan_of_one_head_are_one_node() -> None:
    heard = [{"host": "10.0.0.1", "cluster_name": "a", "scheduler_address": "tls://10.0.0.1:8786",
              "dashboard_url": "http://10.0.0.1:8787", "verified": True, "requires_key": True}]  # fmt: skip
    scanned = [
        {"host": "10.0.0.1", "scheduler_address": "tls://10.0.0.1:8786", "n_workers": 3, "verified": False},
        {"host": "10.0.0.2", "scheduler_address": "tcp://10.0.0.2:8786", "verified": False},
    ]
    first, second = merge_nodes(heard, scanned)
    assert (
        first["found_by"] == ["broadcast", "scan"] and first["verified"] is True and first["n_workers"] == 3
    )
    assert second["found_by"] == ["scan"] and second["cluster_name"] is None
    assert callable(NetworkDiscovery().discover_cluster_nodes)

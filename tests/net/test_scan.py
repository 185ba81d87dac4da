"""Range scans on 127.0.0.0/8 only: TCP connects, then the dashboard API confirms."""

from __future__ import annotations

import socket
import time

import pytest

from pycluster import ConfigError, HeadNode
from pycluster.net import scan_network_for_clusters
from pycluster.net.scan import MAX_SCAN_HOSTS, scan_hosts

from .conftest import TOKEN, port_of


def _ports(head: HeadNode) -> list[int]:
    info = head.get_connection_info()
    return [port_of(info["scheduler_address"]), port_of(info["dashboard_url"])]


def test_scan_with_the_key_confirms_through_the_api(net_head: HeadNode) -> None:
    scheduler_port, dashboard_port = _ports(net_head)
    (found,) = scan_network_for_clusters(
        "127.0.0.1/32",
        ports=[scheduler_port, dashboard_port],
        api_token=TOKEN,
        dashboard_ports=[dashboard_port],
    )
    assert found["cluster_name"] == "net-test"
    assert found["scheduler_address"] == net_head.scheduler_address
    assert found["dashboard_url"] == net_head.dashboard_url
    assert found["requires_token"] is False  # the token was given
    assert found["requires_key"] is found["scheduler_address"].startswith("tls://")
    assert found["verified"] is False  # HTTP proves nothing about the cluster key
    assert found["n_workers"] == 0
    assert found["open_ports"] == [scheduler_port, dashboard_port]


def test_scan_without_the_key_still_finds_the_head(net_head: HeadNode) -> None:
    scheduler_port, dashboard_port = _ports(net_head)
    started = time.monotonic()
    found = scan_network_for_clusters(
        "127.0.0.0/30", ports=[scheduler_port, dashboard_port], dashboard_ports=[dashboard_port], timeout=0.3
    )
    assert time.monotonic() - started < 5
    assert [f["host"] for f in found] == ["127.0.0.1"]  # 127.0.0.2 has nothing there
    # on loopback the head's own OS user is let in without the token, so the head tells its
    # scheduler address (TLS: it has a cluster key); a stranger's scan is in test_netns.py
    assert found[0]["requires_token"] is False
    assert found[0]["requires_key"] is True
    assert found[0]["verified"] is False
    assert found[0]["scheduler_address"] == net_head.scheduler_address


def test_an_open_port_that_is_not_a_head_is_not_reported() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        assert scan_network_for_clusters("127.0.0.1", ports=[port], timeout=0.1) == []


def test_scan_hosts() -> None:
    assert scan_hosts("127.0.0.1") == ["127.0.0.1"]
    assert scan_hosts("127.0.0.0/30") == ["127.0.0.1", "127.0.0.2"]
    assert scan_hosts("127.0.0.0/31") == ["127.0.0.0", "127.0.0.1"]
    assert len(scan_hosts("127.0.0.0/20")) == MAX_SCAN_HOSTS - 2


@pytest.mark.parametrize(
    ("network_range", "message"),
    [
        ("192.168.1.0/33", "is not a network range; use CIDR notation"),
        ("not a range", "is not a network range"),
        ("10.0.0.0/8", "has 16777216 addresses; a scan covers at most 4096"),
    ],
)
def test_bad_ranges_are_refused_before_anything_is_sent(network_range: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        scan_network_for_clusters(network_range)


def test_bad_ports_are_refused() -> None:
    with pytest.raises(ConfigError, match="ports must be"):
        scan_network_for_clusters("127.0.0.1", ports=[0])
    with pytest.raises(ConfigError, match="max_concurrency"):
        scan_network_for_clusters("127.0.0.1", ports=[1], max_concurrency=0)

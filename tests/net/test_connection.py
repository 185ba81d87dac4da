"""Connection tests, recommended ports and interfaces, against real sockets on 127.0.0.1."""

from __future__ import annotations

import socket
import time

import pytest

from pycluster import ConfigError, HeadNode, NetworkDiscovery
from pycluster.net import get_network_interfaces, get_recommended_ports, test_connection
from pycluster.net.ports import udp_port_free


def test_a_running_head_passes_every_check(net_head: HeadNode) -> None:
    info = net_head.get_connection_info()
    result = NetworkDiscovery(discovery_port=info["discovery_port"]).test_connection(
        info["scheduler_address"]
    )
    assert result["scheduler_reachable"] and result["can_connect"] and result["dashboard_reachable"]
    # the dashboard URL came from the head's discovery answer, not a guess
    assert result["dashboard_url"] == info["dashboard_url"]
    assert result["latency_ms"] >= 0 and result["dashboard_latency_ms"] >= 0
    assert result["n_workers"] == 0
    assert result["errors"] == []


def test_a_closed_port_fails_with_a_hint_within_the_timeout() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connections are refused
        started = time.monotonic()
        result = test_connection(f"127.0.0.1:{port}", timeout=1, discovery_port=None)
    assert time.monotonic() - started < 5
    assert not result["scheduler_reachable"] and not result["can_connect"]
    assert result["scheduler_address"] == f"tcp://127.0.0.1:{port}"
    assert result["dashboard_url"] == f"http://127.0.0.1:{port + 1}"
    assert any("did not answer within 1s" in e and "firewall" in e for e in result["errors"])


def test_something_that_is_not_dask_is_reachable_but_cannot_be_joined() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        result = test_connection(f"tcp://127.0.0.1:{port}", timeout=1, discovery_port=None)
    assert result["scheduler_reachable"] and not result["can_connect"]
    assert any("no Dask scheduler answered" in e for e in result["errors"])


def test_bad_address_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="has scheme 'http'; use tcp://"):
        test_connection("http://127.0.0.1:8786")


def test_recommended_ports_skip_taken_ones() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        start = taken.getsockname()[1]
        ports = get_recommended_ports(start, host="127.0.0.1")
    assert list(ports) == ["scheduler_port", "dashboard_port", "discovery_port", "dask_dashboard_port"]
    assert ports["scheduler_port"] > start
    values = list(ports.values())
    assert values == sorted(values) and len(set(values)) == 4
    assert udp_port_free("127.0.0.1", ports["discovery_port"])
    with pytest.raises(ConfigError, match="start_port must be"):
        get_recommended_ports(0)


def test_network_interfaces_include_loopback() -> None:
    rows = get_network_interfaces()
    loopback = [r for r in rows if r["ip"] == "127.0.0.1"]
    assert loopback and loopback[0]["type"] == "loopback" and loopback[0]["family"] == "IPv4"
    assert all(r["is_up"] for r in rows)
    assert not any(r["type"] == "loopback" for r in get_network_interfaces(include_loopback=False))

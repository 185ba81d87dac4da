"""Discovery against a real head on 127.0.0.1: answers, what they hold, and hostile datagrams."""

from __future__ import annotations

import socket
import time

import pytest

from pycluster import ConfigError, HeadNode, NetworkDiscovery, PortInUseError
from pycluster.net import discover_clusters_broadcast, probe_head
from pycluster.net.protocol import encode_probe

from .conftest import TOKEN


def _discover(head: HeadNode, timeout: float = 0.5) -> list[dict]:
    return discover_clusters_broadcast(
        timeout=timeout, broadcast_address="127.0.0.1", port=head.get_connection_info()["discovery_port"]
    )


def test_head_answers_a_probe_with_its_connection_info(net_head: HeadNode) -> None:
    info = net_head.get_connection_info()
    assert info["discovery_port"] > 0
    (found,) = _discover(net_head)
    assert found["cluster_name"] == "net-test"
    assert found["scheduler_address"] == info["scheduler_address"]
    assert found["dashboard_url"] == info["dashboard_url"]
    # requires_key: the scheduler needs the cluster key; requires_token: the web API needs the token
    assert found["requires_key"] is (net_head.auth_key is not None)
    assert found["requires_token"] is True
    assert found["verified"] is False  # asked without the cluster key: nothing to check the answer with
    assert found["version"] == "0.1.0"
    assert found["host"] == "127.0.0.1"
    assert found["discovery_port"] == info["discovery_port"]
    assert found["latency_ms"] >= 0


def test_answer_never_carries_the_key(net_head: HeadNode) -> None:
    port = net_head.get_connection_info()["discovery_port"]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.sendto(encode_probe("raw"), ("127.0.0.1", port))
        data, _ = sock.recvfrom(4096)
    assert b'"requires_token":true' in data
    assert TOKEN.encode() not in data


def test_hostile_datagrams_are_ignored_and_the_responder_keeps_answering(net_head: HeadNode) -> None:
    port = net_head.get_connection_info()["discovery_port"]
    hostile = [
        b"",
        b"garbage",
        b"\x00\xff" * 300,
        b"{" * 20_000,
        b"x" * 60_000,
        b'{"pycluster": "discover", "v": 99, "nonce": "n"}'.ljust(600),
        b'{"pycluster": "discover", "v": 1}'.ljust(600),
        encode_probe("n")[:100],  # cut short
    ]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.3)
        for datagram in hostile:
            sock.sendto(datagram, ("127.0.0.1", port))
        with pytest.raises(TimeoutError):
            sock.recvfrom(4096)  # none of them got an answer
    assert [c["cluster_name"] for c in _discover(net_head)] == ["net-test"]
    assert net_head.is_running


def test_nothing_listening_gives_an_empty_list_after_the_timeout() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        silent_port = sock.getsockname()[1]  # bound, never answers
        started = time.monotonic()
        assert discover_clusters_broadcast(0.3, "127.0.0.1", silent_port) == []
    assert 0.25 < time.monotonic() - started < 2
    assert probe_head("127.0.0.1", silent_port, timeout=0.2) is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"broadcast_address": "not-an-address"}, "is not an IP address"),
        ({"broadcast_address": []}, "broadcast_address is empty"),
        ({"broadcast_address": "127.0.0.1", "port": 70000}, "discovery port must be"),
        ({"broadcast_address": "127.0.0.1", "timeout": 0}, "timeout must be a positive"),
    ],
)
def test_bad_arguments_say_what_to_give(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        discover_clusters_broadcast(**kwargs)


def test_network_discovery_object_uses_its_port(net_head: HeadNode) -> None:
    discovery = NetworkDiscovery(discovery_port=net_head.get_connection_info()["discovery_port"])
    found = discovery.discover_clusters_broadcast(timeout=0.5, broadcast_address="127.0.0.1")
    assert [c["scheduler_address"] for c in found] == [net_head.scheduler_address]


def test_discovery_off_and_port_in_use() -> None:
    with HeadNode(
        "quiet", scheduler_port=0, dashboard_port=0, dask_dashboard_port=False, discovery_port=None
    ) as h:
        h.start()
        assert h.get_connection_info()["discovery_port"] is None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        head = HeadNode(
            "clash", scheduler_port=0, dashboard_port=0, dask_dashboard_port=False, discovery_port=port
        )
        with pytest.raises(PortInUseError, match=rf"discovery \(UDP\) port {port} .* free ports nearby: \d+"):
            head.start()
        assert not head.is_running  # what had started was stopped again


def test_wildcard_answers_are_rewritten_to_the_address_that_answered() -> None:
    from pycluster.net.discovery import _as_result

    announced = {
        "cluster_name": "c",
        "scheduler_address": "tcp://127.0.0.1:9000",  # what a head on 0.0.0.0 may believe
        "dashboard_url": "http://127.0.0.1:9001",
        "version": "0.1.0",
        "requires_key": False,
        "requires_token": False,
        "verified": False,
        "host": "0.0.0.0",
        "scheduler_port": 9000,
        "dashboard_port": 9001,
        "discovery_port": 8788,
    }
    result = _as_result(announced, "10.213.0.3", 0.001)
    assert result["scheduler_address"] == "tcp://10.213.0.3:9000"
    assert result["dashboard_url"] == "http://10.213.0.3:9001"
    assert result["bind_host"] == "0.0.0.0"

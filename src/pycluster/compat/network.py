"""NetworkDiscovery: the product documents' one object for discovery, scans, tests and ports.

>>> from pycluster import NetworkDiscovery
>>> discovery = NetworkDiscovery()
>>> discovery.get_recommended_ports(start_port=8800)  # doctest: +SKIP
{'scheduler_port': 8800, 'dashboard_port': 8801, 'discovery_port': 8802, 'dask_dashboard_port': 8803}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..net.connection import test_connection
from ..net.discovery import DEFAULT_DISCOVERY_PORT, discover_clusters_broadcast, find_cluster
from ..net.interfaces import get_network_interfaces
from ..net.ports import get_recommended_ports
from ..net.scan import scan_network_for_clusters

__all__ = ["NetworkDiscovery", "merge_nodes"]

_NODE_KEYS = (
    "host",
    "cluster_name",
    "scheduler_address",
    "dashboard_url",
    "n_workers",
    "requires_key",
    "requires_token",
    "verified",
)


def merge_nodes(heard: list[dict[str, Any]], scanned: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per head: a discovery answer wins over a scan's (it may be verified)."""
    nodes: dict[str, dict[str, Any]] = {}
    for source, found in (("broadcast", heard), ("scan", scanned)):
        for answer in found:
            key = str(answer.get("scheduler_address") or answer.get("dashboard_url") or answer.get("host"))
            node = nodes.setdefault(key, {k: answer.get(k) for k in _NODE_KEYS} | {"found_by": []})
            for k in _NODE_KEYS:
                if node[k] is None:
                    node[k] = answer.get(k)
            node["found_by"].append(source)
    return list(nodes.values())


class NetworkDiscovery:
    """Find clusters (UDP discovery or a range scan), test one, pick free ports.

    ``discovery_port`` is the UDP port probes go to (8788, as heads use by default);
    ``auth_key`` (default: ``PYCLUSTER_AUTH_KEY``) the cluster key that answers are
    verified with: every discovered cluster says whether it is ``verified``, and
    :meth:`find_cluster` joins only a verified one.
    """

    def __init__(self, discovery_port: int = DEFAULT_DISCOVERY_PORT, auth_key: str | None = None) -> None:
        self.discovery_port = discovery_port
        self._auth_key = auth_key

    def __repr__(self) -> str:  # never the key
        return f"NetworkDiscovery(discovery_port={self.discovery_port!r})"

    def discover_clusters_broadcast(
        self,
        timeout: float = 5,
        broadcast_address: str | Sequence[str] | None = None,
        port: int | None = None,
    ) -> list[dict[str, Any]]:
        """Every head that answers a UDP probe within ``timeout`` seconds, each marked ``verified``
        or not (see :func:`pycluster.net.discovery.discover_clusters_broadcast`)."""
        return discover_clusters_broadcast(
            timeout, broadcast_address, port or self.discovery_port, auth_key=self._auth_key
        )

    def find_cluster(
        self,
        timeout: float = 5,
        broadcast_address: str | Sequence[str] | None = None,
        port: int | None = None,
        insecure: bool = False,
    ) -> dict[str, Any]:
        """The one head to join: a verified answer only, unless ``insecure`` and no key (see
        :func:`pycluster.net.discovery.find_cluster`)."""
        return find_cluster(
            timeout,
            broadcast_address,
            port or self.discovery_port,
            auth_key=self._auth_key,
            insecure=insecure,
        )

    def scan_network_for_clusters(
        self,
        network_range: str | Sequence[str] | None = None,
        ports: Sequence[int] | None = None,
        **options: Any,
    ) -> list[dict[str, Any]]:
        """Heads listening in ``network_range``; ``None``: this machine's own subnets, each at most a
        /24 (see :func:`pycluster.net.scan.scan_network_for_clusters`)."""
        return scan_network_for_clusters(network_range, ports, **options)

    def discover_cluster_nodes(
        self,
        timeout: float = 2,
        network_range: str | Sequence[str] | None = None,
        ports: Sequence[int] | None = None,
        broadcast_address: str | Sequence[str] | None = None,
        include_loopback: bool = False,
        api_token: str | None = None,
    ) -> list[dict[str, Any]]:
        """Every head node on the network (PyCluster v2): those answering the UDP discovery probe
        and those a scan of ``network_range`` (default: this machine's own subnets) confirms,
        one entry per scheduler address. Each has ``host``, ``cluster_name``,
        ``scheduler_address``, ``dashboard_url``, ``requires_key``, ``requires_token``,
        ``verified`` (only a discovery answer signed with the cluster key is) and ``found_by``
        (``["broadcast"]``, ``["scan"]`` or both)."""
        heard = self.discover_clusters_broadcast(timeout, broadcast_address)
        scanned = scan_network_for_clusters(
            network_range,
            ports,
            timeout=min(timeout, 0.5),
            api_token=api_token,
            include_loopback=include_loopback,
        )
        return merge_nodes(heard, scanned)

    def test_connection(self, scheduler_address: str, **options: Any) -> dict[str, Any]:
        """``scheduler_reachable``, ``dashboard_reachable``, ``can_connect``, latency (see
        :func:`pycluster.net.connection.test_connection`)."""
        options.setdefault("discovery_port", self.discovery_port)
        return test_connection(scheduler_address, **options)

    def get_recommended_ports(self, start_port: int = 8786, host: str = "127.0.0.1") -> dict[str, int]:
        """Free scheduler, dashboard, discovery and Dask-dashboard ports from ``start_port`` upward."""
        return get_recommended_ports(start_port, host)

    def get_network_interfaces(self) -> list[dict[str, Any]]:
        """This machine's interfaces and addresses."""
        return get_network_interfaces()

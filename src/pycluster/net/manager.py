"""NetworkDiscovery: the seed documents' one object for discovery, scans, tests and ports.

>>> from pycluster import NetworkDiscovery
>>> discovery = NetworkDiscovery()
>>> discovery.get_recommended_ports(start_port=8800)  # doctest: +SKIP
{'scheduler_port': 8800, 'dashboard_port': 8801, 'discovery_port': 8802, 'dask_dashboard_port': 8803}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .connection import test_connection
from .discovery import DEFAULT_DISCOVERY_PORT, discover_clusters_broadcast
from .interfaces import get_network_interfaces
from .ports import get_recommended_ports
from .scan import scan_network_for_clusters

__all__ = ["NetworkDiscovery"]


class NetworkDiscovery:
    """Find clusters (UDP discovery or a range scan), test one, pick free ports.

    ``discovery_port`` is the UDP port probes go to (8788, as heads use by default).
    """

    def __init__(self, discovery_port: int = DEFAULT_DISCOVERY_PORT) -> None:
        self.discovery_port = discovery_port

    def discover_clusters_broadcast(
        self,
        timeout: float = 5,
        broadcast_address: str | Sequence[str] | None = None,
        port: int | None = None,
    ) -> list[dict[str, Any]]:
        """Every head that answers a UDP probe within ``timeout`` seconds (see
        :func:`pycluster.net.discovery.discover_clusters_broadcast`)."""
        return discover_clusters_broadcast(timeout, broadcast_address, port or self.discovery_port)

    def scan_network_for_clusters(
        self, network_range: str = "192.168.1.0/24", ports: Sequence[int] | None = None, **options: Any
    ) -> list[dict[str, Any]]:
        """Heads listening in ``network_range`` (see :func:`pycluster.net.scan.scan_network_for_clusters`)."""
        return scan_network_for_clusters(network_range, ports, **options)

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

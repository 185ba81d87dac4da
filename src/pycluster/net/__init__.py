"""Networking: discovery (UDP), network scans, connection tests, ports, interfaces.

>>> from pycluster.net import NetworkDiscovery
>>> NetworkDiscovery().discovery_port
8788
"""

from __future__ import annotations

from .connection import test_connection
from .discovery import choose_cluster, discover_clusters_broadcast, find_cluster, probe_head
from .interfaces import get_network_interfaces
from .manager import NetworkDiscovery
from .ports import get_recommended_ports
from .scan import ascan_network_for_clusters, scan_network_for_clusters

__all__ = [
    "NetworkDiscovery",
    "ascan_network_for_clusters",
    "choose_cluster",
    "discover_clusters_broadcast",
    "find_cluster",
    "get_network_interfaces",
    "get_recommended_ports",
    "probe_head",
    "scan_network_for_clusters",
    "test_connection",
]

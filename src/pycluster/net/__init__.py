"""Networking: discovery (UDP), network scans, connection tests, ports, interfaces.

The product documents' facade over all of this, ``NetworkDiscovery``, lives in
:mod:`pycluster.compat`.

>>> from pycluster.net import get_recommended_ports
>>> list(get_recommended_ports(start_port=20000))
['scheduler_port', 'dashboard_port', 'discovery_port', 'dask_dashboard_port']
"""

from __future__ import annotations

from .connection import test_connection
from .discovery import choose_cluster, discover_clusters_broadcast, find_cluster, probe_head
from .interfaces import get_network_interfaces
from .ports import get_recommended_ports
from .scan import ascan_network_for_clusters, scan_network_for_clusters

__all__ = [
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

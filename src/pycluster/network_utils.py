"""``pycluster.network_utils``: the module path the product documents use for discovery.

The code lives in :mod:`pycluster.net`; this module gives it the documents' names.

>>> from pycluster.network_utils import NetworkDiscovery
>>> NetworkDiscovery().discovery_port
8788
"""

from __future__ import annotations

from .compat import NetworkDiscovery
from .net import (
    discover_clusters_broadcast,
    find_cluster,
    get_network_interfaces,
    get_recommended_ports,
    scan_network_for_clusters,
    test_connection,
)

__all__ = [
    "NetworkDiscovery",
    "discover_clusters_broadcast",
    "find_cluster",
    "get_network_interfaces",
    "get_recommended_ports",
    "scan_network_for_clusters",
    "test_connection",
]

"""The product documents' facades, under the names the documents use.

Each is a thin object over the real layers: ``WindowsClusterManager`` over
:mod:`pycluster.platform` (it works on Linux and macOS too), ``NetworkDiscovery`` over
:mod:`pycluster.net`, ``DashboardManager`` (:mod:`pycluster.dashboard`'s client), and
minimalcluster's ``MasterNode`` / ``WorkerNode`` in :mod:`pycluster.compat.minimal`
(imported as ``pycluster.minimal``). The documents' module paths
``pycluster.windows_utils``, ``pycluster.network_utils`` and ``pycluster.minimal`` re-export
from here.

>>> from pycluster.compat import NetworkDiscovery
>>> NetworkDiscovery().discovery_port
8788
"""

from __future__ import annotations

from ..dashboard.client import DashboardManager
from .network import NetworkDiscovery
from .windows import WindowsClusterManager

__all__ = ["DashboardManager", "NetworkDiscovery", "WindowsClusterManager"]

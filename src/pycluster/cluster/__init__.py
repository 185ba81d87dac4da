"""Head node, worker nodes and the cluster manager (Dask underneath)."""

from __future__ import annotations

from .head import HeadNode
from .manager import ClusterManager
from .worker import WorkerNode

__all__ = ["ClusterManager", "HeadNode", "WorkerNode"]

"""Head node, worker nodes and the cluster manager (Dask underneath)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .head import HeadNode
    from .manager import ClusterManager
    from .worker import WorkerNode

__all__ = ["ClusterManager", "HeadNode", "WorkerNode"]

# imported on first use, so a worker process importing pycluster.cluster.worker_entry
# does not load the head (and through it the web app and the head services)
_EXPORTS = {"ClusterManager": ".manager", "HeadNode": ".head", "WorkerNode": ".worker"}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pycluster.cluster' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value

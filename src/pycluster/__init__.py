"""pycluster: batteries-included cluster computing on Dask.

>>> from pycluster import HeadNode
>>> with HeadNode("my-cluster", scheduler_port=0, dashboard_port=0) as head:  # doctest: +SKIP
...     head.start(n_local_workers=2)["status"]
'success'
"""

from __future__ import annotations

from .cluster import ClusterManager, HeadNode, WorkerNode
from .config import Settings
from .errors import (
    ClusterError,
    ClusterNotRunningError,
    ConfigError,
    MissingDependencyError,
    PortInUseError,
    PyClusterError,
    SchedulerUnreachableError,
    SerializationError,
    TaskError,
    WorkerStartError,
)
from .parallel import (
    Backend,
    BackendType,
    DistributedCoordinator,
    DistributedGeneticOptimizer,
    Individual,
    ParameterRange,
    get_backend,
    set_backend,
)

__version__ = "0.1.0"

__all__ = [
    "Backend",
    "BackendType",
    "ClusterError",
    "ClusterManager",
    "ClusterNotRunningError",
    "ConfigError",
    "DistributedCoordinator",
    "DistributedGeneticOptimizer",
    "HeadNode",
    "Individual",
    "MissingDependencyError",
    "ParameterRange",
    "PortInUseError",
    "PyClusterError",
    "SchedulerUnreachableError",
    "SerializationError",
    "Settings",
    "TaskError",
    "WorkerNode",
    "WorkerStartError",
    "__version__",
    "get_backend",
    "set_backend",
]

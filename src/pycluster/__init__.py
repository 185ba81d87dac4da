"""pycluster: batteries-included cluster computing on Dask.

>>> from pycluster import HeadNode
>>> with HeadNode("my-cluster", scheduler_port=0, dashboard_port=0) as head:  # doctest: +SKIP
...     head.start(n_local_workers=2)["status"]
'success'
"""

from __future__ import annotations

__version__ = "0.1.0"

from .cluster import ClusterManager, HeadNode, WorkerNode
from .config import Settings
from .dashboard_client import DashboardManager
from .errors import (
    ClusterError,
    ClusterNotRunningError,
    ConfigError,
    DashboardError,
    JobError,
    JobFailedError,
    JobNotFoundError,
    JobRejectedError,
    JobStateError,
    MissingDependencyError,
    PortInUseError,
    PyClusterError,
    SchedulerUnreachableError,
    WorkerStartError,
)
from .jobs import JobHandle, JobQueue, JobStatus, Operation, Priority, register_operation, report_progress

__all__ = [
    "ClusterError",
    "ClusterManager",
    "ClusterNotRunningError",
    "ConfigError",
    "DashboardError",
    "DashboardManager",
    "HeadNode",
    "JobError",
    "JobFailedError",
    "JobHandle",
    "JobNotFoundError",
    "JobQueue",
    "JobRejectedError",
    "JobStateError",
    "JobStatus",
    "MissingDependencyError",
    "Operation",
    "PortInUseError",
    "Priority",
    "PyClusterError",
    "SchedulerUnreachableError",
    "Settings",
    "WorkerNode",
    "WorkerStartError",
    "__version__",
    "register_operation",
    "report_progress",
]

"""pycluster: batteries-included cluster computing on Dask.

>>> from pycluster import HeadNode
>>> with HeadNode("my-cluster", scheduler_port=0, dashboard_port=0) as head:  # doctest: +SKIP
...     head.start(n_local_workers=2)["status"]
'success'
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:  # pyproject.toml is the one place the version is written
    __version__ = version("pycluster")
except PackageNotFoundError:  # a source tree on sys.path that was never installed
    __version__ = "0.0.0+unknown"

from .cluster import (
    ClusterManager,
    HeadNode,
    WorkerNode,
)
from .compat import (
    DashboardManager,
    NetworkDiscovery,
    WindowsClusterManager,
)
from .config import (
    Settings,
)
from .errors import (
    ArgumentError,
    AuthenticationError,
    ClusterError,
    ClusterNotRunningError,
    ConfigError,
    DashboardError,
    DataAccessError,
    DatasetError,
    DatasetFormatError,
    DatasetNotFoundError,
    DeploymentNotFoundError,
    DeploymentStateError,
    DiscoveryError,
    GPUUnavailableError,
    InferenceRequestError,
    JobError,
    JobFailedError,
    JobNotFoundError,
    JobRejectedError,
    JobStateError,
    LLMError,
    MissingDependencyError,
    ModelDoesNotFitError,
    ModelNotFoundError,
    NetworkError,
    PlatformError,
    PortInUseError,
    PyClusterError,
    RemoteCallError,
    SchedulerUnreachableError,
    SerializationError,
    ServiceError,
    TaskError,
    WorkerStartError,
)
from .gpu import (
    GPUMonitor,
)
from .jobs import (
    JobHandle,
    JobQueue,
    JobStatus,
    Operation,
    Priority,
    register_operation,
    report_progress,
)
from .llm import (
    LLMClusterManager,
    LLMResourceManager,
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

__all__ = [
    "ArgumentError",
    "AuthenticationError",
    "Backend",
    "BackendType",
    "ClusterError",
    "ClusterManager",
    "ClusterNotRunningError",
    "ConfigError",
    "DashboardError",
    "DashboardManager",
    "DataAccessError",
    "DatasetError",
    "DatasetFormatError",
    "DatasetNotFoundError",
    "DeploymentNotFoundError",
    "DeploymentStateError",
    "DiscoveryError",
    "DistributedCoordinator",
    "DistributedGeneticOptimizer",
    "GPUMonitor",
    "GPUUnavailableError",
    "HeadNode",
    "Individual",
    "InferenceRequestError",
    "JobError",
    "JobFailedError",
    "JobHandle",
    "JobNotFoundError",
    "JobQueue",
    "JobRejectedError",
    "JobStateError",
    "JobStatus",
    "LLMClusterManager",
    "LLMError",
    "LLMResourceManager",
    "MissingDependencyError",
    "ModelDoesNotFitError",
    "ModelNotFoundError",
    "NetworkDiscovery",
    "NetworkError",
    "Operation",
    "ParameterRange",
    "PlatformError",
    "PortInUseError",
    "Priority",
    "PyClusterError",
    "RemoteCallError",
    "SchedulerUnreachableError",
    "SerializationError",
    "ServiceError",
    "Settings",
    "TaskError",
    "WindowsClusterManager",
    "WorkerNode",
    "WorkerStartError",
    "__version__",
    "get_backend",
    "register_operation",
    "report_progress",
    "set_backend",
]

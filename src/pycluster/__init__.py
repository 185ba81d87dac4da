"""pycluster: batteries-included cluster computing on Dask.

>>> from pycluster import HeadNode
>>> with HeadNode("my-cluster", scheduler_port=0, dashboard_port=0) as head:  # doctest: +SKIP
...     head.start(n_local_workers=2)["status"]
'success'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # for type checkers and editors; at run time each name is imported when first used
    __version__: str
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
        DatabaseDamagedError,
        DatasetError,
        DatasetFormatError,
        DatasetNotFoundError,
        DeploymentBusyError,
        DeploymentNotFoundError,
        DeploymentStateError,
        DiscoveryError,
        GPUUnavailableError,
        InferenceRequestError,
        JobDoesNotFitError,
        JobError,
        JobFailedError,
        JobMemoryLimitError,
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
        StorageError,
        StorageFullError,
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
    from .profiling import ClusterProfiler

# Public name -> the module that defines it. Imported on first use (PEP 562), so that
# `import pycluster.cluster.worker_entry` (every local worker process) or the command
# line loads only what it needs rather than the web app, the job queue and LLM serving.
_EXPORTS: dict[str, str] = {
    "ClusterManager": ".cluster",
    "HeadNode": ".cluster",
    "WorkerNode": ".cluster",
    "DashboardManager": ".compat",
    "NetworkDiscovery": ".compat",
    "WindowsClusterManager": ".compat",
    "Settings": ".config",
    "ArgumentError": ".errors",
    "AuthenticationError": ".errors",
    "ClusterError": ".errors",
    "ClusterNotRunningError": ".errors",
    "ConfigError": ".errors",
    "DashboardError": ".errors",
    "DataAccessError": ".errors",
    "DatasetError": ".errors",
    "DatabaseDamagedError": ".errors",
    "DatasetFormatError": ".errors",
    "DatasetNotFoundError": ".errors",
    "DeploymentNotFoundError": ".errors",
    "DeploymentBusyError": ".errors",
    "DeploymentStateError": ".errors",
    "DiscoveryError": ".errors",
    "GPUUnavailableError": ".errors",
    "InferenceRequestError": ".errors",
    "JobDoesNotFitError": ".errors",
    "JobError": ".errors",
    "JobFailedError": ".errors",
    "JobMemoryLimitError": ".errors",
    "JobNotFoundError": ".errors",
    "JobRejectedError": ".errors",
    "JobStateError": ".errors",
    "LLMError": ".errors",
    "MissingDependencyError": ".errors",
    "ModelDoesNotFitError": ".errors",
    "ModelNotFoundError": ".errors",
    "NetworkError": ".errors",
    "PlatformError": ".errors",
    "PortInUseError": ".errors",
    "PyClusterError": ".errors",
    "RemoteCallError": ".errors",
    "SchedulerUnreachableError": ".errors",
    "SerializationError": ".errors",
    "ServiceError": ".errors",
    "StorageError": ".errors",
    "StorageFullError": ".errors",
    "TaskError": ".errors",
    "WorkerStartError": ".errors",
    "GPUMonitor": ".gpu",
    "JobHandle": ".jobs",
    "JobQueue": ".jobs",
    "JobStatus": ".jobs",
    "Operation": ".jobs",
    "Priority": ".jobs",
    "register_operation": ".jobs",
    "report_progress": ".jobs",
    "LLMClusterManager": ".llm",
    "LLMResourceManager": ".llm",
    "Backend": ".parallel",
    "BackendType": ".parallel",
    "DistributedCoordinator": ".parallel",
    "DistributedGeneticOptimizer": ".parallel",
    "Individual": ".parallel",
    "ParameterRange": ".parallel",
    "get_backend": ".parallel",
    "set_backend": ".parallel",
    "ClusterProfiler": ".profiling",
}


def _version() -> str:
    """The installed version: pyproject.toml is the one place it is written."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pycluster")
    except PackageNotFoundError:  # a source tree on sys.path that was never installed
        return "0.0.0+unknown"


def __getattr__(name: str) -> Any:
    if name == "__version__":  # read from the installed metadata when first asked (not by every worker)
        globals()[name] = value = _version()
        return value
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pycluster' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module, __name__), name)
    globals()[name] = value  # the next lookup is an ordinary one
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS, "__version__"})


__all__ = [
    "ArgumentError",
    "AuthenticationError",
    "Backend",
    "BackendType",
    "ClusterError",
    "ClusterManager",
    "ClusterNotRunningError",
    "ClusterProfiler",
    "ConfigError",
    "DashboardError",
    "DashboardManager",
    "DataAccessError",
    "DatabaseDamagedError",
    "DatasetError",
    "DatasetFormatError",
    "DatasetNotFoundError",
    "DeploymentBusyError",
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
    "JobDoesNotFitError",
    "JobError",
    "JobFailedError",
    "JobHandle",
    "JobMemoryLimitError",
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
    "StorageError",
    "StorageFullError",
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

"""The one exception tree of pycluster.

Every error pycluster raises on purpose is a ``PyClusterError``; messages say
what happened *and what to do about it*::

    PyClusterError
    ├── ConfigError              (also a ValueError) bad setting: key, source, allowed values
    ├── ArgumentError            (also a ValueError) arguments a map cannot use (duplicates, unhashable)
    ├── ClusterError             the cluster cannot do what was asked
    │   ├── PortInUseError       a port is taken; names free ports nearby
    │   ├── ClusterNotRunningError   an action needs a running head or client
    │   ├── SchedulerUnreachableError  a scheduler address does not answer in time
    │   └── WorkerStartError     worker processes failed to start or join
    ├── GPUUnavailableError      no NVIDIA GPU here, or not the one asked for; says why
    │   ├── WorkerStartError     worker processes failed to start or join
    │   ├── AuthenticationError  a cluster key is missing, too weak or does not match the head's
    │   └── RemoteCallError      a call on a worker failed; names the argument and the remote error
    │   ├── WorkerStartError     worker processes failed to start or join
    │   └── DashboardError       a dashboard URL does not answer, or refuses (wrong token)
    ├── JobError                 the job queue cannot do what was asked
    │   ├── JobNotFoundError     (also a KeyError) no job with that id
    │   ├── JobStateError        the job is in the wrong state (e.g. cancelling a finished job)
    │   ├── JobRejectedError     (also a ValueError) the job can never run here; says why
    │   │   └── JobDoesNotFitError   more cores or memory than the whole cluster has (REST: 409)
    │   ├── JobFailedError       a job failed after its retries; result() raises it
    │   └── JobMemoryLimitError  a piece went past its job's max_memory_gb and was stopped
    ├── DatasetError             a dataset cannot be registered, read or used
    │   ├── DatasetNotFoundError (also a KeyError) no dataset with that id
    │   ├── DataAccessError      the path is outside the configured data roots (HTTP 403)
    │   └── DatasetFormatError   (also a ValueError) unsupported, empty, mixed or malformed data
    ├── NetworkError             discovery, network scans and connection tests
    │   └── DiscoveryError       no head (or more than one, with no way to ask) answered a probe
    ├── LLMError                 LLM serving cannot do what was asked
    │   ├── DeploymentNotFoundError  (also a KeyError) no deployment with that id or model name
    │   ├── ModelNotFoundError   the model is not on disk or in the cache; says how to fetch it
    │   ├── ModelDoesNotFitError the model cannot fit the cluster's GPUs; says what would fit
    │   ├── InferenceRequestError (also a ValueError) bad request: max_tokens, prompt too long
    │   └── DeploymentStateError the deployment is not ready (loading, failed) for the request
    │       └── DeploymentBusyError  llm.max_concurrent_requests requests are already in flight
    ├── PlatformError            this OS cannot do it: services, firewall rules, scripts
    │   └── ServiceError         installing, removing or querying a service failed
    ├── TaskError                a mapped function raised for some items: names the first,
    │                            holds every item's result or exception
    ├── SerializationError       (also a TypeError) a function, item or result cannot be pickled
    ├── StorageError             the state directory cannot be written (read-only, HTTP 503)
    │   ├── StorageFullError     its filesystem is full (HTTP 507); names the directory
    │   └── DatabaseDamagedError its database is damaged or truncated; start-up stops, says what to do
    └── MissingDependencyError   (also an ImportError) an optional extra is not installed

Errors raised by the code a user submits are *not* wrapped: ``future.result()``
re-raises the task's own exception type with the remote traceback. The parallel
coordinator does the same and chains a ``TaskError`` as the ``__cause__``, so the
failing item is named and the other items' results are not lost.
"""

from __future__ import annotations

import reprlib

__all__ = [
    "ArgumentError",
    "AuthenticationError",
    "ClusterError",
    "ClusterNotRunningError",
    "ConfigError",
    "DashboardError",
    "DataAccessError",
    "DatabaseDamagedError",
    "DatasetError",
    "DatasetFormatError",
    "DatasetNotFoundError",
    "DeploymentBusyError",
    "DeploymentNotFoundError",
    "DeploymentStateError",
    "DiscoveryError",
    "GPUUnavailableError",
    "InferenceRequestError",
    "JobDoesNotFitError",
    "JobError",
    "JobFailedError",
    "JobMemoryLimitError",
    "JobNotFoundError",
    "JobRejectedError",
    "JobStateError",
    "LLMError",
    "MissingDependencyError",
    "ModelDoesNotFitError",
    "ModelNotFoundError",
    "NetworkError",
    "PlatformError",
    "PortInUseError",
    "PyClusterError",
    "RemoteCallError",
    "SchedulerUnreachableError",
    "SerializationError",
    "ServiceError",
    "StorageError",
    "StorageFullError",
    "TaskError",
    "WorkerStartError",
]


class PyClusterError(Exception):
    """Root of every error pycluster raises on purpose."""


class ConfigError(PyClusterError, ValueError):
    """A setting has a bad value; the message names the key, its source and what is allowed."""


class ClusterError(PyClusterError):
    """The cluster cannot do what was asked."""


class PortInUseError(ClusterError):
    """A port pycluster must bind is already taken."""

    def __init__(self, port: int, host: str, what: str, free_ports: list[int]) -> None:
        self.port = port
        self.host = host
        self.free_ports = free_ports
        hint = ", ".join(str(p) for p in free_ports) or "none found nearby"
        super().__init__(
            f"{what} port {port} on {host} is in use; free ports nearby: {hint}. "
            f"Pass another port (or 0 to pick a free one)."
        )


class ClusterNotRunningError(ClusterError):
    """An action needs a running cluster (call start() or connect() first)."""


class SchedulerUnreachableError(ClusterError):
    """A scheduler address did not answer within the timeout."""


class WorkerStartError(ClusterError):
    """Worker processes failed to start or to join the scheduler."""


class GPUUnavailableError(PyClusterError):
    """No NVIDIA GPU can be used here (or not the one asked for); ``reason`` says why."""

    def __init__(self, message: str, reason: str | None = None) -> None:
        self.reason = reason or message
        super().__init__(message)


class AuthenticationError(ClusterError):
    """A cluster key is missing, too weak, or not the one the head uses; nothing ran."""


class RemoteCallError(ClusterError):
    """A call on a worker raised; the message names the argument, and ``__cause__`` is the remote error."""

    def __init__(self, message: str, argument: object = None) -> None:
        self.argument = argument
        super().__init__(message)


class ArgumentError(PyClusterError, ValueError):
    """Arguments a map cannot use: duplicates or unhashable items where results are keyed by argument."""


class DashboardError(ClusterError):
    """A dashboard (DashboardManager's URL) did not answer, or refused the request."""


class JobError(PyClusterError):
    """The job queue cannot do what was asked."""


class JobNotFoundError(JobError, KeyError):
    """No job with that id (it may be in another state directory)."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0]) if self.args else ""


class JobStateError(JobError):
    """The job is in the wrong state for the request."""


class JobRejectedError(JobError, ValueError):
    """The job can never run on this cluster (unknown operation, bad parameters, too big)."""


class JobDoesNotFitError(JobRejectedError):
    """The job asks for more cores or memory than the whole cluster has: a conflict with the
    cluster as it is (409 over REST), not a wrong body; more workers would take it."""


class JobFailedError(JobError):
    """The job failed after its retries; the message carries the last error."""


class JobMemoryLimitError(JobError):
    """A piece went past its job's ``max_memory_gb`` and was stopped; names the limit and the peak.

    Not retried: the same piece would use the same memory again."""


class DatasetError(PyClusterError):
    """A dataset cannot be registered, read or used."""


class DatasetNotFoundError(DatasetError, KeyError):
    """No dataset with that id."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class DataAccessError(DatasetError):
    """The path is outside the data roots the cluster may read."""


class DatasetFormatError(DatasetError, ValueError):
    """Unsupported format, empty files, mixed schemas or a malformed row."""


class NetworkError(PyClusterError):
    """A discovery probe, network scan or connection test could not be done."""


class DiscoveryError(NetworkError):
    """No head node answered a discovery probe, or several did and nobody could be asked which."""


class LLMError(PyClusterError):
    """LLM serving cannot do what was asked."""


class DeploymentNotFoundError(LLMError, KeyError):
    """No deployment with that id (or served model name)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ModelNotFoundError(LLMError):
    """The model is neither a local folder nor in the model cache; the message says how to fetch it."""


class ModelDoesNotFitError(LLMError):
    """The model needs more GPU memory than the cluster has free; the message says what would fit."""


class InferenceRequestError(LLMError, ValueError):
    """A bad inference request: max_tokens <= 0, a prompt longer than the model's context, ..."""


class DeploymentStateError(LLMError):
    """The deployment cannot serve the request in its current state (loading, failed)."""


class DeploymentBusyError(DeploymentStateError):
    """As many requests as ``llm.max_concurrent_requests`` allows are in flight: retry shortly (HTTP 429)."""


class PlatformError(PyClusterError):
    """This operating system cannot do what was asked (a service, a firewall rule, a script)."""


class ServiceError(PlatformError):
    """Installing, removing or querying a service failed; the message has the command and its output."""


class MissingDependencyError(PyClusterError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""

    def __init__(self, package: str, extra: str, feature: str) -> None:
        self.package = package
        self.extra = extra
        super().__init__(
            f"{feature} needs the '{package}' package, which is not installed. "
            f'Install it with: pip install "pycluster[{extra}]"'
        )


class SerializationError(PyClusterError, TypeError):
    """A function, an item or a result cannot be pickled to travel between processes."""


class TaskError(PyClusterError):
    """A mapped function raised for at least one item.

    ``index`` and ``item`` name the first failing item; ``results`` holds every
    item's outcome in order (the exception object where an item failed) and
    ``errors`` maps each failing index to its exception.
    """

    def __init__(
        self, index: int, item: object, results: list[object], errors: dict[int, BaseException]
    ) -> None:
        self.index = index
        self.item = item
        self.results = results
        self.errors = errors
        first = errors[index]
        super().__init__(
            f"item {index} ({reprlib.repr(item)}) raised {type(first).__name__}: {first}; "
            f"{len(errors)} of {len(results)} items failed, the other results are in .results"
        )


class StorageError(PyClusterError):
    """The state directory (``directory``) cannot be written now: read-only, or (subclass) full."""

    def __init__(self, message: str, directory: str) -> None:
        self.directory = directory
        super().__init__(message)


class StorageFullError(StorageError):
    """The state directory's filesystem has no room left; work resumes once space returns."""


class DatabaseDamagedError(StorageError):
    """The state database is damaged or truncated; the message names the file and what to do."""

"""The one exception tree of pycluster.

Every error pycluster raises on purpose is a ``PyClusterError``; messages say
what happened *and what to do about it*::

    PyClusterError
    ├── ConfigError              (also a ValueError) bad setting: key, source, allowed values
    ├── ClusterError             the cluster cannot do what was asked
    │   ├── PortInUseError       a port is taken; names free ports nearby
    │   ├── ClusterNotRunningError   an action needs a running head or client
    │   ├── SchedulerUnreachableError  a scheduler address does not answer in time
    │   ├── WorkerStartError     worker processes failed to start or join
    │   └── DashboardError       a dashboard URL does not answer, or refuses (wrong token)
    ├── JobError                 the job queue cannot do what was asked
    │   ├── JobNotFoundError     (also a KeyError) no job with that id
    │   ├── JobStateError        the job is in the wrong state (e.g. cancelling a finished job)
    │   ├── JobRejectedError     (also a ValueError) the job can never run here; says why
    │   └── JobFailedError       a job failed after its retries; result() raises it
    └── MissingDependencyError   (also an ImportError) an optional extra is not installed

Errors raised by the code a user submits are *not* wrapped: ``future.result()``
re-raises the task's own exception type with the remote traceback.
"""

from __future__ import annotations

__all__ = [
    "ClusterError",
    "ClusterNotRunningError",
    "ConfigError",
    "DashboardError",
    "JobError",
    "JobFailedError",
    "JobNotFoundError",
    "JobRejectedError",
    "JobStateError",
    "MissingDependencyError",
    "PortInUseError",
    "PyClusterError",
    "SchedulerUnreachableError",
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


class JobFailedError(JobError):
    """The job failed after its retries; the message carries the last error."""


class MissingDependencyError(PyClusterError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""

    def __init__(self, package: str, extra: str, feature: str) -> None:
        self.package = package
        self.extra = extra
        super().__init__(
            f"{feature} needs the '{package}' package, which is not installed. "
            f'Install it with: pip install "pycluster[{extra}]"'
        )

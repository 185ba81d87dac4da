"""The one exception tree of pycluster.

Every error pycluster raises on purpose is a ``PyClusterError``; messages say
what happened *and what to do about it*::

    PyClusterError
    ├── ConfigError              (also a ValueError) bad setting: key, source, allowed values
    ├── ClusterError             the cluster cannot do what was asked
    │   ├── PortInUseError       a port is taken; names free ports nearby
    │   ├── ClusterNotRunningError   an action needs a running head or client
    │   ├── SchedulerUnreachableError  a scheduler address does not answer in time
    │   └── WorkerStartError     worker processes failed to start or join
    ├── TaskError                a mapped function raised for some items: names the first,
    │                            holds every item's result or exception
    ├── SerializationError       (also a TypeError) a function, item or result cannot be pickled
    └── MissingDependencyError   (also an ImportError) an optional extra is not installed

Errors raised by the code a user submits are *not* wrapped: ``future.result()``
re-raises the task's own exception type with the remote traceback. The parallel
coordinator does the same and chains a ``TaskError`` as the ``__cause__``, so the
failing item is named and the other items' results are not lost.
"""

from __future__ import annotations

import reprlib

__all__ = [
    "ClusterError",
    "ClusterNotRunningError",
    "ConfigError",
    "MissingDependencyError",
    "PortInUseError",
    "PyClusterError",
    "SchedulerUnreachableError",
    "SerializationError",
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

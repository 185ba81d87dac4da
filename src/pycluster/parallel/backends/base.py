"""What every backend is: a lifecycle, a worker count and a way to run chunks.

A backend runs opaque chunk payloads (see ``runner.run_chunk``) and yields each
answer as soon as it is ready; the coordinator does everything else. Backends
are context managers and shut down only what they started: a process pool or a
local cluster they created, never a cluster they attached to.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from enum import Enum
from typing import Any, ClassVar

from ...errors import ClusterNotRunningError, ConfigError

__all__ = ["Backend", "BackendState", "BackendType", "check_worker_count"]


class BackendType(str, Enum):
    """The engines the coordinator can run on.

    >>> BackendType.parse("Dask")
    <BackendType.DASK: 'dask'>
    """

    MULTIPROCESSING = "multiprocessing"
    DASK = "dask"
    RAY = "ray"

    @classmethod
    def parse(cls, value: BackendType | str) -> BackendType:
        """``value`` as a BackendType; names are case-insensitive."""
        if isinstance(value, cls):
            return value
        try:
            return cls(str(value).lower())
        except ValueError:
            allowed = ", ".join(t.value for t in cls)
            raise ConfigError(f"unknown backend {value!r}; allowed: {allowed}") from None


class BackendState(str, Enum):
    """A backend's lifecycle: NEW -> RUNNING -> CLOSED (and RUNNING again on initialize())."""

    NEW = "new"
    RUNNING = "running"
    CLOSED = "closed"


class Backend(ABC):
    """Base of the multiprocessing, Dask and Ray backends."""

    backend_type: ClassVar[BackendType]
    # Chunks per worker for a large map (thousands of items per worker): the dearer a
    # task is on this backend, the fewer (see chunking.plan_chunks).
    large_chunks_per_worker: ClassVar[int] = 4
    # Rough seconds one task costs beyond its work (scheduling, transfer), measured on 2 cores.
    task_overhead: ClassVar[float] = 0.001

    def __init__(self) -> None:
        self.state = BackendState.NEW
        self._lock = threading.RLock()

    @property
    def name(self) -> str:
        """``"multiprocessing"``, ``"dask"`` or ``"ray"``."""
        return self.backend_type.value

    @property
    def is_initialized(self) -> bool:
        return self.state is BackendState.RUNNING

    def initialize(self) -> Backend:
        """Start or attach; does nothing when already running. Returns the backend."""
        with self._lock:
            if self.state is not BackendState.RUNNING:
                self._start()
                self.state = BackendState.RUNNING
        return self

    def shutdown(self) -> None:
        """Stop what this backend started (its pool, its local cluster); detach from the rest."""
        with self._lock:
            try:
                if self.state is BackendState.RUNNING:
                    self._stop()
            finally:
                self.state = BackendState.CLOSED

    def ensure_running(self) -> None:
        """Start a NEW backend; refuse a CLOSED one (shut down on purpose, so say so)."""
        if self.state is BackendState.CLOSED:
            raise ClusterNotRunningError(
                f"the {self.name} backend was shut down; call its initialize() to start it "
                "again, or choose one with set_backend(...)"
            )
        self.initialize()

    def num_workers(self) -> int:
        """How many items can run at the same time (processes, Dask threads or Ray CPUs)."""
        self.ensure_running()
        return self._count_workers()

    @abstractmethod
    def run_chunks(self, payloads: Iterable[bytes], stream: bool = False) -> Iterator[tuple[int, bytes]]:
        """Run each payload with ``run_chunk``; yield ``(index, answer)`` for each.

        With ``stream`` each answer comes as soon as it is ready (for a progress bar);
        without, a backend may fetch them all at once where each fetch is a round trip.
        Closing the iterator early cancels the chunks that have not finished.
        """

    @abstractmethod
    def _start(self) -> None: ...

    @abstractmethod
    def _stop(self) -> None: ...

    @abstractmethod
    def _count_workers(self) -> int: ...

    def __enter__(self) -> Backend:
        return self.initialize()

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.state.value}>"


def check_worker_count(value: Any, name: str) -> int | None:
    """``value`` if None or a whole number >= 1; ConfigError naming ``name`` otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a whole number >= 1, got {value!r}")
    return value

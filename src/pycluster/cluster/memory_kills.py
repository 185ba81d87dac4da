"""Workers ended for using too much memory, remembered so a task's failure can say so.

When a worker passes Dask's ``terminate`` fraction of its memory limit, whoever supervises
it (a Nanny, or a head's :class:`~pycluster.cluster.local_workers.LocalWorkers`) kills
it, and the scheduler then fails the task it ran with a ``KilledWorker`` that says only
"workers died". The supervisor knows why; it records each kill here, and
:meth:`MemoryKills.explain` turns a ``KilledWorker`` from such a worker into an error
naming the task, the worker, its memory use and its limit.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field

from ..errors import ClusterError

__all__ = ["MemoryKill", "MemoryKills"]

# Kills remembered: enough for every worker of a large machine dying a few times, while a
# head that runs for months keeps a bounded list
_REMEMBERED = 1000


@dataclass(frozen=True)
class MemoryKill:
    """One worker ended for its memory use."""

    worker: str  # its Dask address
    name: str | None  # its worker name, if it had one
    used: int  # bytes its process tree used when it was ended
    limit: int  # its memory limit in bytes
    fraction: float  # the share of the limit past which it was ended (Dask's "terminate")
    at: float = field(default_factory=time.time)

    def describe(self) -> str:
        name = f" ({self.name})" if self.name else ""
        return (
            f"worker {self.worker}{name} used {_mib(self.used)}, over {self.fraction:.0%} of its "
            f"{_mib(self.limit)} memory limit, and was ended"
        )


class MemoryKills:
    """The memory kills of one set of workers (thread-safe: the supervisor records, callers read)."""

    def __init__(self) -> None:
        self._kills: deque[MemoryKill] = deque(maxlen=_REMEMBERED)
        self._lock = threading.Lock()

    def record(self, kill: MemoryKill) -> None:
        with self._lock:
            self._kills.append(kill)

    def __len__(self) -> int:
        with self._lock:
            return len(self._kills)

    def last_for(self, worker: str) -> MemoryKill | None:
        """The latest kill of the worker at address ``worker``, if it was ended for memory."""
        with self._lock:
            return next((k for k in reversed(self._kills) if k.worker == worker), None)

    def explain(self, exc: BaseException) -> ClusterError | None:
        """A clear error for a ``KilledWorker`` whose last worker was ended for memory (else None).

        Raise it ``from exc``: ``raise kills.explain(exc) or exc``.
        """
        from distributed import KilledWorker

        if not isinstance(exc, KilledWorker):
            return None
        kill = self.last_for(str(exc.last_worker.address))
        if kill is None:
            return None
        tries = exc.allowed_failures + 1
        retried = f" (tried on {tries} workers; every one died)" if tries > 1 else ""
        return ClusterError(
            f"task {exc.task!r} was stopped for using too much memory: {kill.describe()}{retried}. "
            "Give the workers more memory (--memory-limit / memory_limit=) or fewer threads each, "
            "or split the task"
        )


def _mib(size: float) -> str:
    return f"{size / 2**20:.0f} MiB"

"""A job's ``max_memory_gb`` enforced while its pieces run, on the worker.

:class:`MemoryLimitedPiece` wraps a piece function. While the piece runs, a watchdog thread
reads its worker process's resident memory every :data:`INTERVAL` seconds; what the piece
uses is the growth since it started (the peak of that growth is reported). Past the job's
``max_memory_gb`` the watchdog raises an exception inside the piece's thread
(``PyThreadState_SetAsyncExc``), so the piece stops where it is and its memory is freed as
its frames unwind; the piece then fails with :class:`~pycluster.errors.JobMemoryLimitError`
naming the limit and the measured peak, and the runner fails the job without retrying it.

What it cannot see or do, and why:

- Pieces of other jobs running in the same worker process at the same moment grow the same
  process: their memory counts too (a process has one resident size). Pieces of the same job
  are meant to count together, since ``max_memory_gb`` is the job's.
- A piece blocked inside one long C call (one huge NumPy allocation, a ``sleep``) is stopped
  when that call returns. Dask's own memory limit still ends the worker if it goes past that.
- Allocations freed between two readings (under :data:`INTERVAL`) are not seen.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import JobMemoryLimitError

__all__ = ["INTERVAL", "MemoryLimitedPiece"]

INTERVAL = 0.02  # seconds between two readings (a reading costs about 20 µs)
_GB = 1e9


class _OverLimit(BaseException):
    """Raised inside the piece's thread by the watchdog (a class: the C API takes no instance).
    A BaseException, so that a piece's own ``except Exception`` does not swallow it."""


class _Watchdog:
    def __init__(self, limit_bytes: float, thread_id: int) -> None:
        import psutil

        self.process = psutil.Process()
        self.limit = limit_bytes
        self.thread_id = thread_id
        self.baseline = self.process.memory_info().rss
        self.peak = 0
        self.fired = False
        self._lock = threading.Lock()
        self._active = True
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="pycluster-piece-memory", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._done.wait(INTERVAL):
            used = self.process.memory_info().rss - self.baseline
            self.peak = max(self.peak, used)
            if used > self.limit:
                with self._lock:
                    if self._active:
                        self.fired = True
                        _raise_in(self.thread_id, _OverLimit)
                return

    def stop(self) -> None:
        """Called by the piece's thread when the piece ended, whichever way."""
        with self._lock:
            self._active = False
            if self.fired:  # fired but not delivered yet: take it back, the error is raised below
                _raise_in(self.thread_id, None)
        self._done.set()


def _raise_in(thread_id: int, exc: type[BaseException] | None) -> None:
    # None goes to C as NULL, which clears a pending exception (py_object(None) would set one)
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exc) if exc is not None else None
    )


@dataclass(frozen=True)
class MemoryLimitedPiece:
    """A piece function stopped when it uses more than ``limit_gb`` (pickled to the worker)."""

    func: Callable[[Any], Any]
    limit_gb: float
    piece: int

    def __call__(self, piece_input: Any) -> Any:
        watchdog = _Watchdog(self.limit_gb * _GB, threading.get_ident())
        result: Any = None
        try:
            try:
                result = self.func(piece_input)
            finally:
                watchdog.stop()
        except _OverLimit:
            pass  # the error below says what happened
        if watchdog.fired:
            raise JobMemoryLimitError(
                f"piece {self.piece} used {watchdog.peak / _GB:.3f} GB at peak (its worker process's "
                f"memory growth while it ran), over the job's max_memory_gb={self.limit_gb:g}; it was "
                "stopped. Give the job a larger max_memory_gb, or split the work into smaller pieces"
            )
        return result

"""The multiprocessing backend: a loky process pool on this machine.

loky rather than ``multiprocessing.Pool`` because its workers are fresh
interpreters on every platform (no fork, as on Windows) that never re-import the
user's ``__main__``, so guard-less scripts work; lambdas and closures travel by
value with cloudpickle.

>>> with MultiprocessingBackend(num_workers=2) as backend:  # doctest: +SKIP
...     backend.num_workers()
2
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import Future, as_completed
from typing import Any

from ..runner import run_chunk
from .base import Backend, BackendType, check_worker_count

__all__ = ["MultiprocessingBackend"]


class MultiprocessingBackend(Backend):
    """``num_workers`` worker processes on this machine (default: every usable core)."""

    backend_type = BackendType.MULTIPROCESSING
    # a task costs ~0.1 ms here, and more chunks overlap pickling with computing
    large_chunks_per_worker = 4
    task_overhead = 0.0005

    def __init__(self, num_workers: int | None = None) -> None:
        super().__init__()
        self._requested = check_worker_count(num_workers, "num_workers")
        self._executor: Any = None

    def _start(self) -> None:
        from loky import ProcessPoolExecutor, cpu_count

        workers = self._requested or cpu_count()
        self._executor = ProcessPoolExecutor(max_workers=workers)
        self._workers = workers
        # A first submit starts the processes, and nothing waits for them: an interpreter takes
        # ~0.3 s to start on 2 cores (more under load), time the caller's own code and the
        # first map's chunking overlap. What keeps a process from starting is raised by the
        # first map (loky's TerminatedWorkerError), not here.
        self._executor.submit(int)

    def _stop(self) -> None:
        self._executor.shutdown(wait=True)
        self._executor = None

    def _count_workers(self) -> int:
        return int(self._workers)

    def run_chunks(self, payloads: Iterable[bytes], stream: bool = False) -> Iterator[tuple[int, bytes]]:
        self.ensure_running()
        futures: dict[Future[bytes], int] = {}
        try:
            for index, payload in enumerate(payloads):
                futures[self._executor.submit(run_chunk, payload)] = index
            for future in as_completed(futures):
                yield futures[future], future.result()
        finally:
            for future in futures:
                future.cancel()

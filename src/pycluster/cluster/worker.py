"""WorkerNode: join a cluster from this machine with N worker processes.

>>> worker = WorkerNode("tcp://192.168.1.100:8786", worker_name="box-1")  # doctest: +SKIP
>>> worker.start(n_workers=2, threads_per_worker=4)["status"]               # doctest: +SKIP
'success'
"""

from __future__ import annotations

import tempfile
import threading
import weakref
from pathlib import Path
from typing import Any

from .exit_hooks import call_at_exit
from .worker_options import WorkerOptions
from .worker_process import WorkerProcess

__all__ = ["WorkerNode"]


class WorkerNode:
    """Worker processes on this machine that join the scheduler at ``scheduler_address``.

    The workers run in a ``pycluster worker`` subprocess (Dask Nannies, which
    restart a worker that dies) and stop with ``shutdown()`` or when this process ends.
    """

    def __init__(
        self,
        scheduler_address: str,
        worker_name: str | None = None,
        timeout: float = 10.0,
        auth_key: str | None = None,
    ) -> None:
        self.scheduler_address = scheduler_address
        self.auth_key = auth_key  # the head's cluster key; passed to the workers by environment
        self.worker_name = worker_name
        self.timeout = timeout
        self._process: WorkerProcess | None = None
        self._lock = threading.Lock()
        call_at_exit(_shutdown_at_exit, weakref.ref(self))

    def start(
        self,
        n_workers: int | None = None,
        threads_per_worker: int | None = None,
        memory_limit: str | int | float = "auto",
        resources: dict[str, float] | str | None = None,
        *,
        gpus: str | int | list[int] | None = None,
        gpus_per_worker: int = 1,
        check_gpus: bool = True,
    ) -> dict[str, Any]:
        """Start the workers and wait until they joined (the scheduler must answer within ``timeout``).

        ``n_workers`` defaults to 1. ``gpus="all"`` (or ``2``, or ``[0, 1]``) starts one worker
        per GPU (per ``gpus_per_worker`` GPUs) instead, each pinned with ``CUDA_VISIBLE_DEVICES``
        and advertising ``{"GPU": gpus_per_worker}``; ``check_gpus=False`` trusts a list of
        indices without asking NVML. Raises ``SchedulerUnreachableError`` naming the address
        when it does not answer, ``AuthenticationError`` when the key is missing or not
        the head's, ``GPUUnavailableError`` when the GPUs are not here, and
        ``ConfigError`` (a ValueError) for a bad argument.
        """
        options = WorkerOptions.create(
            self.scheduler_address,
            n_workers,
            threads_per_worker,
            memory_limit,
            resources,
            name=self.worker_name,
            connect_timeout=self.timeout,
            gpus=gpus,
            gpus_per_worker=gpus_per_worker,
            check_gpus=check_gpus,
            auth_key=self.auth_key,
        )
        with self._lock:
            if self._process is not None and self._process.alive:
                return {
                    **self.get_status(),
                    "status": "already_running",
                    "message": "these workers are already running; call shutdown() first",
                }
            process = WorkerProcess(options, Path(tempfile.mkdtemp(prefix="pycluster-worker-")))
            # the scheduler must answer within `timeout`; joining may take longer
            process.start(timeout=self.timeout + 60)
            self._process = process
        return {**self.get_status(), "status": "success"}

    def get_status(self) -> dict[str, Any]:
        """Running or stopped, the scheduler, and the addresses of this node's workers."""
        process = self._process
        running = process is not None and process.alive
        return {
            "status": "running" if running else "stopped",
            "worker_name": self.worker_name,
            "scheduler_address": process.options.scheduler_address if process else self.scheduler_address,
            "n_workers": len(process.worker_addresses) if running and process else 0,
            "workers": list(process.worker_addresses) if running and process else [],
            "pid": process.pid if running and process else None,
            "log_file": str(process.log_path) if process else None,
        }

    def shutdown(self) -> None:
        """Stop this node's worker processes. Safe to call twice."""
        with self._lock:
            process, self._process = self._process, None
        if process is not None:
            process.stop()

    def __enter__(self) -> WorkerNode:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


def _shutdown_at_exit(ref: weakref.ReferenceType[WorkerNode]) -> None:
    node = ref()
    if node is not None:
        node.shutdown()

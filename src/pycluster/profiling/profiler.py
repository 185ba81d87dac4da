"""ClusterProfiler: what the cluster did between ``start()`` and ``stop()``.

>>> from pycluster.profiling import ClusterProfiler   # doctest: +SKIP
>>> profiler = ClusterProfiler()                       # doctest: +SKIP
>>> profiler.start()                                   # doctest: +SKIP
>>> report = profiler.stop()                           # doctest: +SKIP
>>> print(report.summary())                            # doctest: +SKIP

Underneath, all Dask: the scheduler's task stream (every task's compute, transfer and
deserialize phases), its view of each worker's CPU and memory (sampled in a background
thread), CPU time of the scheduler's event loop, and the workers' own sampling profiler
(``Client.profile``) for where worker code spends its time.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from ..errors import ClusterError
from .analysis import function_stats, hot_frames, phase_totals, task_records, worker_usage
from .report import ProfileReport
from .sampler import WorkerSampler

__all__ = ["ClusterProfiler"]

_PLUGIN = "task-stream"


def _stream_position(dask_scheduler: Any) -> int:
    """On the scheduler: install Dask's task-stream plugin if needed; its append counter now."""
    from distributed.diagnostics.task_stream import TaskStreamPlugin

    if TaskStreamPlugin.name not in dask_scheduler.plugins:
        dask_scheduler.add_plugin(TaskStreamPlugin(dask_scheduler))
    return int(dask_scheduler.plugins[TaskStreamPlugin.name].index)


def _stream_since(dask_scheduler: Any, index: int) -> tuple[list[dict[str, Any]], int]:
    """On the scheduler: records appended since ``index`` (a counter, not a clock); how many fell out."""
    from distributed.diagnostics.task_stream import TaskStreamPlugin

    plugin = dask_scheduler.plugins[TaskStreamPlugin.name]
    records = plugin.collect(start_index=index)
    lost = max(0, plugin.index - index - len(records))
    # 'type' is a pickled class: not needed, and not JSON
    return [{k: v for k, v in r.items() if k != "type"} for r in records], lost


def _loop_cpu_seconds() -> float:
    # run_on_scheduler calls this on the scheduler's event-loop thread: that thread's CPU time
    return time.thread_time()


class ClusterProfiler:
    """Profile a running cluster over a window: ``start()``, run work, ``report = stop()``.

    ``cluster`` is a :class:`~pycluster.ClusterManager`, a :class:`~pycluster.HeadNode`, a
    ``distributed.Client``, or a scheduler address; left out, the profiler uses this
    process's default Dask client (a head or ``ClusterManager.connect`` started here sets
    one), else connects to ``tcp://127.0.0.1:<scheduler_port>`` from settings with the key
    found as ``pycluster status`` finds it (``auth_key``, ``PYCLUSTER_AUTH_KEY``, or this
    user's own local head). Keyed (TLS) heads work like any other.

    ``interval`` is seconds between worker CPU/memory samples; ``code_profile=False`` skips
    the sampling profile of worker code.
    """

    def __init__(
        self,
        cluster: Any = None,
        *,
        interval: float = 1.0,
        code_profile: bool = True,
        auth_key: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be a positive number of seconds, not {interval!r}")
        self._target = cluster
        self.interval = float(interval)
        self.code_profile = code_profile
        self._auth_key = auth_key
        self._timeout = timeout
        self._lock = threading.Lock()
        self._client: Any = None
        self._own_manager: Any = None
        self._started_at: float | None = None
        self._stream_index = 0
        self._loop_cpu: float | None = None
        self._sampler: WorkerSampler | None = None
        # the last window's report when used as a context manager
        self.report: ProfileReport | None = None

    @property
    def running(self) -> bool:
        return self._started_at is not None

    # ----------------------------------------------------------------- window
    def start(self) -> ClusterProfiler:
        """Begin the window (returns the profiler, so ``ClusterProfiler().start()`` chains)."""
        with self._lock:
            if self._started_at is not None:
                raise ClusterError(
                    "this ClusterProfiler is already running (started "
                    f"{time.time() - self._started_at:.1f}s ago): call stop() before starting it again"
                )
            client = self._connect()
            try:
                self._stream_index = int(client.run_on_scheduler(_stream_position))
                self._loop_cpu = _loop_cpu(client)
                sampler = WorkerSampler(client, self.interval)
                sampler.start()
            except BaseException:
                self._disconnect()
                raise
            self._client = client
            self._sampler = sampler
            self._started_at = time.time()
        return self

    def stop(self) -> ProfileReport:
        """End the window and return what it measured."""
        with self._lock:
            if self._started_at is None or self._sampler is None:
                raise ClusterError("this ClusterProfiler is not running: call start() before stop()")
            started_at, sampler, client = self._started_at, self._sampler, self._client
            self._started_at = None
            self._sampler = None
            try:
                return self._report(client, sampler, started_at)
            finally:
                self._disconnect()

    def __enter__(self) -> ClusterProfiler:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.running:
            self.report = self.stop()

    # ----------------------------------------------------------------- parts
    def _report(self, client: Any, sampler: WorkerSampler, started_at: float) -> ProfileReport:
        sampler.stop()
        stopped_at = time.time()
        loop_cpu = _loop_cpu(client)
        stream, lost = client.run_on_scheduler(_stream_since, index=self._stream_index)
        records = task_records(stream)
        tree: dict[str, Any] = {}
        if self.code_profile:
            _wait_for_profile_cycle(started_at)
            # no stop: a worker's latest samples (this cycle's) are in the answer only then
            tree = client.profile(start=started_at)
        scheduler_cpu = None
        if loop_cpu is not None and self._loop_cpu is not None:
            scheduler_cpu = max(0.0, loop_cpu - self._loop_cpu)
        return ProfileReport(
            # the scheduler's own address: a head's client in its process reaches it by inproc://
            scheduler_address=str(client.scheduler_info().get("address") or client.scheduler.address),
            started_at=started_at,
            stopped_at=stopped_at,
            functions=function_stats(records),
            phases=phase_totals(stream, scheduler_cpu),
            workers=worker_usage(sampler.samples, sampler.names, sampler.limits),
            samples=sampler.samples,
            tasks=records,
            hot_frames=hot_frames(tree) if tree else [],
            profile_samples=int(tree.get("count", 0)),
            sample_interval_s=self.interval,
            tasks_lost=lost,
        )

    def _connect(self) -> Any:
        target = self._target
        if target is None:
            from distributed import default_client

            try:
                return default_client()
            except ValueError:  # no client in this process: the local head, as `pycluster status`
                from ..config import Settings

                target = f"tcp://127.0.0.1:{Settings.load().cluster.scheduler_port}"
        if isinstance(target, str):
            from ..cluster import ClusterManager

            key = self._auth_key or os.environ.get("PYCLUSTER_AUTH_KEY")
            self._own_manager = ClusterManager.connect(target, timeout=self._timeout, auth_key=key)
            return self._own_manager.client
        manager = getattr(target, "cluster_manager", target)  # a HeadNode has one
        client = getattr(manager, "client", None)
        if client is not None and hasattr(client, "run_on_scheduler"):
            return client
        if hasattr(target, "run_on_scheduler"):  # a distributed.Client
            return target
        raise TypeError(
            "ClusterProfiler profiles a ClusterManager, HeadNode, distributed.Client or scheduler "
            f"address, not {type(target).__name__}"
        )

    def _disconnect(self) -> None:
        self._client = None
        if self._own_manager is not None:
            manager, self._own_manager = self._own_manager, None
            manager.release()


def _wait_for_profile_cycle(started_at: float) -> None:
    """Wait until the workers' sampling profiler has closed a cycle since ``started_at``.

    A worker answers ``profile(start=...)`` from its history of closed cycles (one a second
    by default) and leaves its current cycle out when no closed cycle is in range; so a
    window shorter than a cycle would come back empty without this wait (at most one cycle).
    """
    import dask.config
    from dask.utils import parse_timedelta

    cycle = parse_timedelta(dask.config.get("distributed.worker.profile.cycle", "1000ms"), default="ms")
    remaining = started_at + float(cycle) + 0.1 - time.time()
    if remaining > 0:
        time.sleep(remaining)


def _loop_cpu(client: Any) -> float | None:
    try:
        return float(client.run_on_scheduler(_loop_cpu_seconds))
    except Exception:  # a scheduler that refuses run_on_scheduler of plain functions: leave it out
        return None

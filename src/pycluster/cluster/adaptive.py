"""Adaptive scaling of a head's local workers, on Dask's own ``distributed.deploy.Adaptive``.

Dask's ``Adaptive`` decides (from the scheduler's ``adaptive_target``: queued task time,
memory use) how many workers there should be, waits ``wait_count`` checks before removing
one, and retires workers gracefully (``Scheduler.retire_workers``: their data moves to
other workers first). It needs a cluster-like object to act on; :class:`HeadCluster` is
that object for a :class:`~pycluster.cluster.head.HeadNode`: ``scale`` goes through the
head's ``ClusterManager.scale`` (one supervised subprocess per worker) and the scheduler
is called directly, as it runs on the head's own loop.

:class:`QueueAwareAdaptive` adds the job queue's backlog as demand: jobs that wait for
cores bring workers up even before any of their Dask tasks exist.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import psutil
from dask.utils import parse_bytes
from distributed.core import Status
from distributed.deploy.adaptive import Adaptive
from tornado.ioloop import IOLoop

from ..errors import ConfigError

if TYPE_CHECKING:
    from .head import HeadNode
    from .launchers import LaunchedWorkers

__all__ = [
    "MIN_WORKER_MEMORY",
    "AdaptiveSettings",
    "BatchCluster",
    "HeadCluster",
    "QueueAwareAdaptive",
    "parse_adapt_range",
    "queue_demand",
]

_log = logging.getLogger(__name__)

# What one local worker needs at least when its memory limit is "auto" (an interpreter
# with Dask loaded is ~150 MB; the rest is room to work). A maximum whose workers cannot
# all have this much of the machine's memory would only trade swapping for throughput.
MIN_WORKER_MEMORY = 512 * 2**20


@dataclass(frozen=True)
class AdaptiveSettings:
    """The bounds and pace of adaptive scaling (checked by :meth:`create`)."""

    minimum: int
    maximum: int
    interval: float = 1.0  # seconds between checks
    wait_count: int = 3  # checks in a row that must agree before a worker is retired
    target_duration: float = 5.0  # seconds the queued work should take at the target size

    @classmethod
    def create(
        cls,
        minimum: int,
        maximum: int,
        interval: float = 1.0,
        wait_count: int = 3,
        target_duration: float = 5.0,
        worker_memory: int | None = None,
        total_memory: int | None = None,
        check_memory: bool = True,
    ) -> AdaptiveSettings:
        """Checked settings; ``worker_memory`` bytes per worker bound the maximum by the RAM
        (unless not ``check_memory``: batch-job workers run on other machines)."""
        for name, value in (("minimum", minimum), ("maximum", maximum), ("wait_count", wait_count)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(f"adaptive {name} must be a whole number >= 0, got {value!r}")
        if maximum < 1:
            raise ConfigError(f"adaptive maximum must be at least 1, got {maximum}: use MIN:MAX, e.g. 1:8")
        if minimum > maximum:
            raise ConfigError(
                f"adaptive minimum {minimum} is above the maximum {maximum}: "
                f"swap them (--adapt {maximum}:{minimum})"
            )
        for name, seconds in (("interval", interval), ("target_duration", target_duration)):
            if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 < seconds <= 3600:
                raise ConfigError(f"adaptive {name} must be seconds above 0 (at most 3600), got {seconds!r}")
        per_worker = worker_memory or MIN_WORKER_MEMORY
        total = total_memory or psutil.virtual_memory().total
        fits = max(1, total // per_worker)
        if check_memory and maximum > fits:
            raise ConfigError(
                f"adaptive maximum {maximum} workers need {maximum * per_worker / 2**30:.1f} GiB "
                f"({per_worker / 2**20:.0f} MiB each) but this machine has {total / 2**30:.1f} GiB: "
                f"use a maximum of at most {fits} (or a smaller --memory-limit per worker)"
            )
        return cls(minimum, maximum, float(interval), wait_count, float(target_duration))


def parse_adapt_range(text: str) -> tuple[int, int]:
    """``"1:8"`` → ``(1, 8)``; anything else is a ``ConfigError`` that shows the form."""
    parts = text.strip().split(":")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise ConfigError(f"--adapt takes MIN:MAX worker counts (whole numbers >= 0), e.g. 1:8; got {text!r}")
    return int(parts[0]), int(parts[1])


def worker_memory(memory_limit: object) -> int | None:
    """Bytes of an explicit per-worker memory limit ("2GB", 2e9, 0.5 of RAM); None for "auto"."""
    if memory_limit in (None, "auto", 0, "0"):
        return None
    try:
        value = float(memory_limit)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return int(parse_bytes(str(memory_limit)))
    if 0 < value <= 1:  # a fraction of the machine's memory
        return int(value * psutil.virtual_memory().total)
    return int(value)


async def queue_demand(head: HeadNode) -> float:
    """Cores the job queue wants now: its running jobs' reservations plus its waiting jobs'.

    Read-only (the queue's status and job list); 0 when the head runs no job queue."""
    queue = head.services.get("jobs")
    if queue is None:
        return 0.0

    def read() -> float:
        from ..jobs.model import JobStatus

        waiting = 0.0
        for status in (JobStatus.PENDING, JobStatus.QUEUED):
            _, jobs = queue.list(status, limit=1000)
            waiting += sum(j.max_cores for j in jobs)
        return waiting + float(queue.status().resources.reserved_cores)

    return await asyncio.to_thread(read)  # SQLite reads stay off the scheduler's loop


class _SchedulerCalls:
    """What ``Adaptive`` calls through ``cluster.scheduler_comm``, on the in-process scheduler."""

    def __init__(self, scheduler: Any) -> None:
        self._scheduler = scheduler

    async def adaptive_target(self, target_duration: float | None = None) -> int:
        return int(self._scheduler.adaptive_target(target_duration=target_duration))

    async def workers_to_close(self, **kwargs: Any) -> list[str]:
        return list(self._scheduler.workers_to_close(**kwargs))

    async def retire_workers(self, **kwargs: Any) -> Any:
        return await self._scheduler.retire_workers(**kwargs)


class HeadCluster:
    """The cluster-like object Dask's ``Adaptive`` acts on, over a running head.

    Worker names are the scheduler's (a local worker without a name is named by its
    address). Workers that joined from elsewhere count towards the total but are never
    retired by adaptive scaling: only this head's local workers are started and stopped.
    """

    def __init__(self, head: HeadNode, loop: IOLoop) -> None:
        self.head = head
        self.loop = loop
        self.scheduler_comm = _SchedulerCalls(head.scheduler)

    @property
    def status(self) -> Status:
        return Status.running if self.head.is_running else Status.closed

    def _names(self, addresses: list[str]) -> set[str]:
        workers = self.head.scheduler.workers
        return {str(workers[a].name) if a in workers else a for a in addresses}

    @property
    def local_names(self) -> set[str]:
        return self._names(self.head.local_workers.addresses)

    @property
    def observed(self) -> set[str]:
        return {str(ws.name) for ws in self.head.scheduler.workers.values()}

    @property
    def requested(self) -> set[str]:
        # every local worker (started: scale waits until they join) and the remote ones
        return self.local_names | self.observed

    @property
    def plan(self) -> set[str]:
        return self.requested

    @property
    def remote_count(self) -> int:
        return len(self.observed - self.local_names)

    async def scale(self, n: int) -> None:
        """Bring the total to ``n`` workers by starting local ones (remote ones count too)."""
        local = max(0, n - self.remote_count)
        if local > len(self.head.local_workers.processes):
            _log.info("adaptive scaling: starting local workers up to %d", local)
            manager = self.head.cluster_manager
            timeout = self.head.settings.cluster.worker_start_timeout
            await asyncio.to_thread(manager.scale, local, timeout)

    async def scale_down(self, names: list[str]) -> None:
        """Stop the processes of ``names``, which the scheduler has already retired."""
        wanted = set(names)
        local = self.head.local_workers
        processes = [p for p in local.processes if self._names(p.worker_addresses) & wanted]
        if processes:
            await asyncio.to_thread(local.retire, processes, lambda addresses: None)

    def __await__(self) -> Any:  # Adaptive awaits the cluster when plan and requested differ
        return asyncio.sleep(0).__await__()


class BatchCluster(HeadCluster):
    """:class:`HeadCluster` whose workers are batch jobs (:mod:`pycluster.cluster.launchers`).

    A job counts as requested from its submission (waiting in the batch queue included, so a
    slow queue is not flooded with more jobs) until its worker has joined and left again.
    """

    def __init__(self, head: HeadNode, loop: IOLoop, launched: LaunchedWorkers) -> None:
        super().__init__(head, loop)
        self.launched = launched
        self._seen: set[str] = set()

    @property
    def local_names(self) -> set[str]:
        observed = self.observed
        self._seen |= observed & set(self.launched.jobs)
        gone = [n for n in self.launched.jobs if n in self._seen and n not in observed]
        for name in gone:  # its worker left (retired, walltime, failed): the job is over or ending
            self.launched.jobs.pop(name, None)
            self._seen.discard(name)
        return set(self.launched.jobs)

    async def forget_ended(self) -> None:
        """Drop the jobs that ended without their worker joining (see LaunchedWorkers.forget_ended)."""
        await self.launched.forget_ended(self._seen | self.observed, time.monotonic())

    async def scale(self, n: int) -> None:
        more = n - self.remote_count - len(self.local_names)
        if more > 0 and not self.launched.gave_up:
            _log.info("adaptive scaling: submitting %d worker jobs", more)
            await self.launched.launch(more)

    async def scale_down(self, names: list[str]) -> None:
        await self.launched.cancel(names)  # retired already; the job ends with its worker anyway


class QueueAwareAdaptive(Adaptive):
    """Dask's ``Adaptive``, with the job queue's backlog as demand and local workers only retired."""

    def __init__(self, cluster: HeadCluster, settings: AdaptiveSettings) -> None:
        super().__init__(
            cast(Any, cluster),
            interval=settings.interval,
            minimum=settings.minimum,
            maximum=settings.maximum,
            wait_count=settings.wait_count,
            target_duration=settings.target_duration,
        )
        self.head_cluster = cluster
        self.settings = settings
        self.last_target: int | None = None

    async def target(self) -> int:
        if isinstance(self.head_cluster, BatchCluster):  # called every interval, scale only on change
            await self.head_cluster.forget_ended()
        dask_target = int(await super().target())  # type: ignore[no-untyped-call]
        cores = await queue_demand(self.head_cluster.head)
        queue_target = math.ceil(cores / _threads_per_worker(self.head_cluster.head)) if cores else 0
        self.last_target = max(dask_target, queue_target)
        return self.last_target

    async def workers_to_close(self, target: int) -> list[str]:
        # Dask may pick any worker; only this head's own ones are its to stop
        local = self.head_cluster.local_names
        return [name for name in await super().workers_to_close(target) if name in local]


def _threads_per_worker(head: HeadNode) -> float:
    if head.launched is not None:
        return float(head.launched.settings.cores)
    processes = head.local_workers.processes
    if processes and processes[-1].options.threads_per_worker:
        return float(processes[-1].options.threads_per_worker)
    workers = head.scheduler.workers.values()
    threads = [ws.nthreads for ws in workers]
    return sum(threads) / len(threads) if threads else 1.0


@dataclass(frozen=True)
class AdaptiveState:
    """Whether a head scales adaptively, between which bounds, and its latest target."""

    enabled: bool
    minimum: int | None = None
    maximum: int | None = None
    target: int | None = None
    workers: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "target": self.target,
            "workers": self.workers,
        }


def adaptive_settings(
    head: HeadNode,
    minimum: int,
    maximum: int | None,
    interval: float,
    wait_count: int,
    target_duration: float,
) -> AdaptiveSettings:
    """Checked settings for ``head``: the maximum defaults to its cores, bounded by its memory."""
    processes = head.local_workers.processes
    memory = worker_memory(processes[-1].options.memory_limit) if processes else None
    if maximum is None:
        maximum = max(minimum, psutil.cpu_count() or 1) if isinstance(minimum, int) else 1
    return AdaptiveSettings.create(
        minimum, maximum, interval, wait_count, target_duration, memory, check_memory=head.launched is None
    )


async def start_adaptive(head: HeadNode, settings: AdaptiveSettings) -> QueueAwareAdaptive:
    """Start adaptive scaling; call on the head's loop (Dask's callbacks run there).

    A head with a launcher scales batch-job workers, otherwise its local ones."""
    loop = IOLoop.current()
    cluster = HeadCluster(head, loop) if head.launched is None else BatchCluster(head, loop, head.launched)
    return QueueAwareAdaptive(cluster, settings)


def state_of(head: HeadNode, adaptive: QueueAwareAdaptive | None) -> AdaptiveState:
    workers = len(head.scheduler.workers) if head.scheduler is not None else 0
    if adaptive is None or adaptive.state in ("stopped", "inactive"):
        return AdaptiveState(False, workers=workers)
    s = adaptive.settings
    return AdaptiveState(True, s.minimum, s.maximum, adaptive.last_target, workers)

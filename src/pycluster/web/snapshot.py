"""The dashboard's picture of the cluster at one moment: one dict, built once per tick.

Everything the dashboard shows comes from here (the stream and GET /api/dashboard/snapshot
send the same thing), so the browser never polls the scheduler on its own. Scheduler state is
read on the head's event loop in one hop; job rows come from SQLite in a worker thread.
"""

from __future__ import annotations

import asyncio
import math
import weakref
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from .. import __version__
from ..cluster.loop import await_on
from ..cluster.results import ClusterStatus, WorkerInfo
from ..jobs.model import JobStatus, Priority
from .deps import now_iso
from .routers.processing import job_summary

if TYPE_CHECKING:
    from ..cluster.head import HeadNode
    from ..jobs import JobQueue
    from ..jobs.model import Job
    from ..jobs.store import JobStore
    from ..monitor.history import MetricsHistory
    from .controller import HeadController, StandaloneController

__all__ = [
    "JOBS_SHOWN",
    "ClusterView",
    "DashboardSnapshot",
    "JobsView",
    "TasksView",
    "build_snapshot",
    "dashboard_snapshot",
    "on_head_loop",
]

JOBS_SHOWN = 100  # the newest jobs the dashboard lists; the REST API pages through all
T = TypeVar("T")
WAITING = (JobStatus.PENDING.value, JobStatus.QUEUED.value)


@dataclass(frozen=True)
class ClusterView:
    """The snapshot's ``cluster``: a running head's status and health, or what a stopped one knows."""

    status: ClusterStatus
    health: str  # healthy (workers connected), degraded (none) or stopped
    stopped_info: dict[str, Any] | None = None  # the controller's connection info, when stopped

    def to_dict(self) -> dict[str, Any]:
        if self.status.connection is None:
            stopped = {"status": "stopped", "health": self.health, "n_workers": 0, "total_cores": 0}
            return {**stopped, "cluster_name": self.status.cluster_name, **(self.stopped_info or {})}
        values = {"status": "running", "health": self.health, **self.status.to_dict()}
        values.pop("workers")  # the snapshot lists them on its own
        return values


@dataclass(frozen=True)
class TasksView:
    """Completed, running, pending and failed tasks, and the latest failures (newest first)."""

    completed: int
    failed: int  # since the dashboard's list was last cleared
    failed_total: int
    running: int
    executing: int
    pending: int
    in_memory: int
    erred_held: int
    recent_failures: list[dict[str, Any]]  # the metrics service's failure records

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class JobsView:
    """Totals by status, waiting jobs by priority, and the newest jobs."""

    totals: dict[str, int]
    waiting_by_priority: dict[str, int]
    max_concurrent_jobs: int
    total: int
    jobs: list[dict[str, Any]]  # the documented job rows (job_summary plus pieces)
    paused: bool = False  # the queue's dispatch is paused (POST /api/dashboard/queue/pause)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DashboardSnapshot:
    """One frame of the live feed (``GET /api/dashboard/snapshot``)."""

    time: str
    version: str
    interval: float
    cluster: ClusterView
    workers: list[WorkerInfo]
    tasks: TasksView | None  # None without the metrics service
    metrics: list[dict[str, Any]]  # the metrics service's recent samples
    alerts: dict[str, Any] | None  # ClusterAlerts.as_dict(); None without the metrics service
    jobs: JobsView | None  # None without the jobs service

    def to_dict(self) -> dict[str, Any]:
        return {
            "time": self.time,
            "version": self.version,
            "interval": self.interval,
            "cluster": self.cluster.to_dict(),
            "workers": [w.to_dict() for w in self.workers],
            "tasks": self.tasks.to_dict() if self.tasks is not None else None,
            "metrics": self.metrics,
            "alerts": self.alerts,
            "jobs": self.jobs.to_dict() if self.jobs is not None else None,
        }


async def on_head_loop(head: HeadNode, make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Await ``make()`` on the head's loop, where the scheduler's state may be read safely."""
    return await await_on(head.loop, make())


async def build_snapshot(
    ctrl: HeadController | StandaloneController, interval: float = 2.0
) -> dict[str, Any]:
    """Cluster, workers, tasks, recent metrics, jobs and alerts, as plain JSON-ready dicts."""
    return (await dashboard_snapshot(ctrl, interval)).to_dict()


async def dashboard_snapshot(
    ctrl: HeadController | StandaloneController, interval: float = 2.0
) -> DashboardSnapshot:
    """``build_snapshot``, typed."""
    node = ctrl.head
    if node is None:
        # a head shutting down says only its name; the standalone API also its dashboard's URL
        info = ctrl.connection_info() if hasattr(ctrl, "connection_info") else {}
        cluster = ClusterView(ClusterStatus.stopped(ctrl.cluster_name), "stopped", info)
        return DashboardSnapshot(now_iso(), __version__, interval, cluster, [], None, [], None, None)
    frame = await on_head_loop(node, lambda: _scheduler_view(node, interval))
    queue = node.services.get("jobs")
    jobs = await asyncio.to_thread(jobs_view, queue) if queue is not None else None
    return DashboardSnapshot(now_iso(), __version__, interval, *frame, jobs=jobs)


_SchedulerFrame = tuple[
    ClusterView, list[WorkerInfo], TasksView | None, list[dict[str, Any]], dict[str, Any] | None
]


async def _scheduler_view(node: HeadNode, interval: float) -> _SchedulerFrame:
    status = ClusterStatus.running(node.connection_info(), node.uptime_seconds, await node.snapshot())
    workers = list(status.summary.workers)
    cluster = ClusterView(status, "healthy" if workers else "degraded")
    history: MetricsHistory | None = node.services.get("metrics")
    if history is None:
        return cluster, workers, None, [], None
    # enough recent samples that a slow refresh interval still draws every point
    recent = math.ceil(interval / history.interval) + 1
    tasks = tasks_view(history, status.summary.active_tasks)
    return cluster, workers, tasks, list(history.samples)[-recent:], history.alerts.as_dict(limit=20)


def tasks_view(history: MetricsHistory, executing: int) -> TasksView:
    """Completed, running, pending and failed tasks, and the latest failures (newest first)."""
    states = history.task_states()
    counter = history.counter
    return TasksView(
        completed=counter.completed,
        failed=counter.failed - counter.failed_at_clear,
        failed_total=counter.failed,
        running=states.get("processing", 0),
        executing=executing,
        pending=sum(states.get(s, 0) for s in ("waiting", "queued", "no-worker")),
        in_memory=states.get("memory", 0),
        erred_held=states.get("erred", 0),
        recent_failures=list(reversed(counter.failures)),
    )


# store -> (its changes, its counts); weak: a closed head's store goes with it
_counts_cache: weakref.WeakKeyDictionary[JobStore, tuple[int, dict[tuple[str, int], int]]] = (
    weakref.WeakKeyDictionary()
)


def _job_counts(queue: JobQueue) -> dict[tuple[str, int], int]:
    """The store's counts by status and priority, counted again only after a write: with
    100,000 jobs a count takes ~30 ms, and an idle queue would pay it on every tick."""
    store = queue.store
    changes = store.changes
    cached = _counts_cache.get(store)
    if cached is None or cached[0] != changes:
        cached = _counts_cache[store] = (changes, store.counts())
    return cached[1]


def jobs_view(queue: JobQueue, limit: int = JOBS_SHOWN) -> JobsView:
    """Totals by status, waiting jobs by priority, and the newest ``limit`` jobs."""
    by_status: Counter[str] = Counter()
    waiting: Counter[str] = Counter()
    for (status, priority), n in _job_counts(queue).items():
        by_status[status] += n
        if status in WAITING:
            waiting[Priority(priority).name] += n
    total, jobs = queue.list(None, limit, 0)
    return JobsView(
        totals={s.value: by_status[s.value] for s in JobStatus},
        waiting_by_priority={p.name: waiting[p.name] for p in Priority},
        max_concurrent_jobs=queue.settings.max_concurrent_jobs,
        total=total,
        jobs=[_job_row(j) for j in jobs],
        paused=queue.paused,
    )


def _job_row(job: Job) -> dict[str, Any]:
    return {**job_summary(job), "pieces_done": job.pieces_done, "pieces_total": job.pieces_total}

"""The dashboard's picture of the cluster at one moment: one dict, built once per tick.

Everything the dashboard shows comes from here (the stream and GET /api/dashboard/snapshot
send the same thing), so the browser never polls the scheduler on its own. Scheduler state is
read on the head's event loop in one hop; job rows come from SQLite in a worker thread.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from .. import __version__
from ..cluster.loop import await_on
from ..cluster.status import cluster_summary
from ..jobs.model import JobStatus, Priority
from .deps import now_iso
from .routers.processing import job_summary

if TYPE_CHECKING:
    from ..cluster.head import HeadNode
    from ..jobs import JobQueue
    from .controller import HeadController, StandaloneController

__all__ = ["JOBS_SHOWN", "build_snapshot", "on_head_loop"]

JOBS_SHOWN = 100  # the newest jobs the dashboard lists; the REST API pages through all
T = TypeVar("T")
WAITING = (JobStatus.PENDING.value, JobStatus.QUEUED.value)


async def on_head_loop(head: HeadNode, make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Await ``make()`` on the head's loop, where the scheduler's state may be read safely."""
    return await await_on(head.loop, make())


async def build_snapshot(
    ctrl: HeadController | StandaloneController, interval: float = 2.0
) -> dict[str, Any]:
    """Cluster, workers, tasks, recent metrics, jobs and alerts, as plain JSON-ready dicts."""
    node = ctrl.head
    base = {"time": now_iso(), "version": __version__, "interval": interval}
    if node is None:
        return {**base, **_stopped(ctrl)}
    view = await on_head_loop(node, lambda: _scheduler_view(node, interval))
    queue = node.services.get("jobs")
    jobs = await asyncio.to_thread(jobs_view, queue) if queue is not None else None
    return {**base, **view, "jobs": jobs}


def _stopped(ctrl: HeadController | StandaloneController) -> dict[str, Any]:
    info = ctrl.connection_info() if hasattr(ctrl, "connection_info") else {}
    cluster = {"status": "stopped", "health": "stopped", "n_workers": 0, "total_cores": 0, **info}
    return {"cluster": cluster, "workers": [], "tasks": None, "metrics": [], "alerts": None, "jobs": None}


async def _scheduler_view(node: HeadNode, interval: float) -> dict[str, Any]:
    summary = cluster_summary(await node.snapshot())
    workers = summary.pop("workers")
    history = node.services.get("metrics")
    cluster = {
        "status": "running",
        "health": "healthy" if workers else "degraded",
        **node.get_connection_info(),
        "uptime_seconds": round(node.uptime_seconds, 1),
        **summary,
    }
    if history is None:
        return {"cluster": cluster, "workers": workers, "tasks": None, "metrics": [], "alerts": None}
    # enough recent samples that a slow refresh interval still draws every point
    recent = math.ceil(interval / history.interval) + 1
    return {
        "cluster": cluster,
        "workers": workers,
        "tasks": tasks_view(history, summary),
        "metrics": list(history.samples)[-recent:],
        "alerts": history.alerts.as_dict(limit=20),
    }


def tasks_view(history: Any, summary: dict[str, Any]) -> dict[str, Any]:
    """Completed, running, pending and failed tasks, and the latest failures (newest first)."""
    states = history.task_states()
    counter = history.counter
    return {
        "completed": counter.completed,
        "failed": counter.failed - counter.failed_at_clear,
        "failed_total": counter.failed,
        "running": states.get("processing", 0),
        "executing": summary["active_tasks"],
        "pending": sum(states.get(s, 0) for s in ("waiting", "queued", "no-worker")),
        "in_memory": states.get("memory", 0),
        "erred_held": states.get("erred", 0),
        "recent_failures": list(reversed(counter.failures)),
    }


def jobs_view(queue: JobQueue, limit: int = JOBS_SHOWN) -> dict[str, Any]:
    """Totals by status, waiting jobs by priority, and the newest ``limit`` jobs."""
    by_status: Counter[str] = Counter()
    waiting: Counter[str] = Counter()
    for (status, priority), n in queue.store.counts().items():
        by_status[status] += n
        if status in WAITING:
            waiting[Priority(priority).name] += n
    total, jobs = queue.list(None, limit, 0)
    return {
        "totals": {s.value: by_status[s.value] for s in JobStatus},
        "waiting_by_priority": {p.name: waiting[p.name] for p in Priority},
        "max_concurrent_jobs": queue.settings.max_concurrent_jobs,
        "total": total,
        "jobs": [_job_row(j) for j in jobs],
    }


def _job_row(job: Any) -> dict[str, Any]:
    return {**job_summary(job), "pieces_done": job.pieces_done, "pieces_total": job.pieces_total}

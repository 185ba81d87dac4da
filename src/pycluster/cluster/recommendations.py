"""Scaling advice for a head: how many workers its load asks for, and why.

The processing-cluster document promises a resource manager that "recommends scaling
actions". The advice uses the same demand as adaptive scaling (Dask's
``adaptive_target``: queued task time and memory use; the job queue's waiting jobs'
cores), bounded by what the machine's memory holds, and says in words which signal
decided it, with the figures (queue depth, CPU, memory) behind it.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

import psutil

from .adaptive import MIN_WORKER_MEMORY, queue_demand

if TYPE_CHECKING:
    from .head import HeadNode

__all__ = ["Recommendation", "Signals", "recommend"]

Action = Literal["scale_up", "scale_down", "none"]

# Busy above this average CPU while nothing waits: near saturation, say so but do not scale
BUSY_CPU = 80.0
# Workers idle below this average CPU with nothing queued may go (Dask then picks which)
IDLE_CPU = 10.0


@dataclass(frozen=True)
class Signals:
    """The figures the advice rests on."""

    workers: int
    threads: int
    queued_tasks: int  # Dask tasks waiting for a thread
    processing_tasks: int
    waiting_jobs: int  # job-queue jobs pending or queued
    job_cores: float  # cores the job queue wants (running reservations + waiting jobs)
    cpu_percent: float  # average over workers
    memory_percent: float  # used / limit, over all workers
    dask_target: int  # Scheduler.adaptive_target()
    max_workers: int  # what this machine's memory holds


@dataclass(frozen=True)
class Recommendation:
    action: Action
    workers: int  # the advised total
    current_workers: int
    reason: str
    signals: Signals

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


async def recommend(head: HeadNode, target_duration: float = 5.0) -> Recommendation:
    """Advice for ``head`` now; await it on the head's loop (it reads the scheduler)."""
    signals = await _signals(head, target_duration)
    per_worker_threads = signals.threads / signals.workers if signals.workers else 1.0
    queue_target = math.ceil(signals.job_cores / per_worker_threads) if signals.job_cores else 0
    wanted = max(signals.dask_target, queue_target, 1)
    target = min(wanted, signals.max_workers)
    current = signals.workers
    if target > current:
        return Recommendation("scale_up", target, current, _why_up(signals, queue_target, wanted), signals)
    idle = not signals.queued_tasks and not signals.waiting_jobs and signals.cpu_percent <= IDLE_CPU
    if target < current and idle:
        reason = (
            f"{current - target} of {current} workers are idle (CPU {signals.cpu_percent:.0f}%, "
            f"no queued tasks or jobs); {target} hold the data and the work"
        )
        return Recommendation("scale_down", target, current, reason, signals)
    reason = (
        f"load matches {current} workers: {signals.processing_tasks} tasks running, "
        f"{signals.queued_tasks} queued, {signals.waiting_jobs} jobs waiting, "
        f"CPU {signals.cpu_percent:.0f}%, memory {signals.memory_percent:.0f}%"
    )
    if signals.cpu_percent >= BUSY_CPU and current >= signals.max_workers:
        reason += f"; CPU is busy but {current} workers are all this machine's memory holds: add a machine"
    return Recommendation("none", current, current, reason, signals)


def _why_up(s: Signals, queue_target: int, wanted: int) -> str:
    parts = []
    if s.waiting_jobs:
        parts.append(
            f"{s.waiting_jobs} jobs wait in the queue ({s.job_cores:g} cores wanted → {queue_target} workers)"
        )
    if s.queued_tasks:
        parts.append(f"{s.queued_tasks} tasks are queued (Dask asks for {s.dask_target} workers)")
    if s.memory_percent > 60:
        parts.append(f"memory is {s.memory_percent:.0f}% used")
    if not s.workers:
        parts.append("there are no workers")
    reason = "; ".join(parts) or f"Dask asks for {s.dask_target} workers"
    if wanted > s.max_workers:
        reason += f" (capped at {s.max_workers}: what this machine's memory holds)"
    return reason


async def _signals(head: HeadNode, target_duration: float) -> Signals:
    scheduler = head.scheduler
    workers = list(scheduler.workers.values())
    cpu = [float(ws.metrics.get("cpu", 0.0) or 0.0) for ws in workers]
    limit = sum(ws.memory_limit or 0 for ws in workers)
    used = sum(float(ws.metrics.get("memory", 0) or 0) for ws in workers)
    waiting_jobs = 0
    queue = head.services.get("jobs")
    if queue is not None:
        counts = (await asyncio.to_thread(queue.status)).by_status  # SQLite: off the loop
        waiting_jobs = int(counts.get("pending", 0) + counts.get("queued", 0))
    return Signals(
        workers=len(workers),
        threads=sum(ws.nthreads for ws in workers),
        queued_tasks=len(scheduler.queued) + len(scheduler.unrunnable),
        processing_tasks=sum(len(ws.processing) for ws in workers),
        waiting_jobs=waiting_jobs,
        job_cores=await queue_demand(head),
        cpu_percent=sum(cpu) / len(cpu) if cpu else 0.0,
        memory_percent=100.0 * used / limit if limit else 0.0,
        dask_target=int(scheduler.adaptive_target(target_duration=target_duration)),
        max_workers=max(1, psutil.virtual_memory().total // _worker_memory(head)),
    )


def _worker_memory(head: HeadNode) -> int:
    from .adaptive import worker_memory

    processes = head.local_workers.processes
    explicit = worker_memory(processes[-1].options.memory_limit) if processes else None
    return explicit or MIN_WORKER_MEMORY

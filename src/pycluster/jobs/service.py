"""The job queue as a head service."""

from __future__ import annotations

import asyncio

from ..cluster.services import HeadContext, HeadService
from .operations import OPERATIONS
from .queue import JobQueue, QueueSettings

__all__ = ["JobQueueService"]


class JobQueueService(HeadService):
    """Head service "jobs": the persistent :class:`JobQueue` in the head's state directory.

    It runs the operations of the default registry: the built-ins and those other
    packages (datasets) add to it."""

    name = "jobs"
    stateful = True

    def __init__(self) -> None:
        self.queue: JobQueue | None = None

    async def start(self, ctx: HeadContext) -> None:
        # SQLite and the recovery of stored jobs: off the head's loop
        self.queue = await asyncio.to_thread(_start_queue, ctx)

    async def stop(self) -> None:
        queue, self.queue = self.queue, None
        if queue is not None:
            await asyncio.to_thread(queue.stop)

    @property
    def public(self) -> JobQueue | None:
        return self.queue


def _start_queue(ctx: HeadContext) -> JobQueue:
    j = ctx.settings.jobs
    settings = QueueSettings(
        max_concurrent_jobs=j.max_concurrent_jobs,
        check_interval=j.check_interval,
        default_max_cores=j.default_max_cores,
        default_max_memory_gb=j.default_max_memory_gb,
        default_retries=j.default_retries,
        aging_interval=j.aging_interval,
    )
    return JobQueue(ctx.cluster_manager.client, ctx.state_dir, settings, operations=OPERATIONS).start()

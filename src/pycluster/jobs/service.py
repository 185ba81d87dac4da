"""The job queue as a head service."""

from __future__ import annotations

import asyncio

from ..cluster.services import HeadContext, HeadService
from ..config import Settings
from .operations import OPERATIONS
from .queue import JobQueue, QueueSettings

__all__ = ["JobQueueService", "queue_settings"]


class JobQueueService(HeadService):
    """Head service "jobs": the persistent :class:`JobQueue` in the head's state directory.

    It runs the operations of the default registry: the built-ins and those other
    packages (datasets) add to it.

    Given a ``queue`` that is already open (the standalone API keeps its queue while its
    cluster is stopped), the service attaches the head's client to it on start and detaches
    it on stop; the queue itself stays open and belongs to whoever made it.
    """

    name = "jobs"
    stateful = True

    def __init__(self, queue: JobQueue | None = None) -> None:
        self.queue: JobQueue | None = None
        self._adopted = queue

    async def start(self, ctx: HeadContext) -> None:
        if self._adopted is not None:
            self._adopted.attach_client(ctx.cluster_manager.client)
            self.queue = self._adopted
            return
        # SQLite and the recovery of stored jobs: off the head's loop
        self.queue = await asyncio.to_thread(_start_queue, ctx)

    async def all_started(self, ctx: HeadContext) -> None:
        # recovered jobs are planned now, not before: a dataset job needs the datasets service,
        # which starts after this one and joins the jobs' operation context
        if self.queue is not None:
            self.queue.dispatch_now()

    async def stop(self) -> None:
        queue, self.queue = self.queue, None
        if queue is None:
            return
        if queue is self._adopted:
            await asyncio.to_thread(queue.detach_client)
        else:
            await asyncio.to_thread(queue.stop)

    @property
    def public(self) -> JobQueue | None:
        return self.queue


def queue_settings(settings: Settings) -> QueueSettings:
    """The queue's settings from the ``jobs`` section of ``settings``."""
    j = settings.jobs
    return QueueSettings(
        max_concurrent_jobs=j.max_concurrent_jobs,
        check_interval=j.check_interval,
        default_max_cores=j.default_max_cores,
        default_max_memory_gb=j.default_max_memory_gb,
        default_retries=j.default_retries,
        aging_interval=j.aging_interval,
        dispatch_lookahead=j.dispatch_lookahead,
        burst_hold=j.burst_hold,
    )


def _start_queue(ctx: HeadContext) -> JobQueue:
    settings = queue_settings(ctx.settings)
    queue = JobQueue(ctx.cluster_manager.client, ctx.state_dir, settings, operations=OPERATIONS)
    # a piece whose local worker the head ended for its memory says so, not "workers died"
    queue.runner.explain_failure = ctx.head.local_workers.memory_kills.explain
    return queue.start(hold=True)  # until all the head's services have started (all_started)

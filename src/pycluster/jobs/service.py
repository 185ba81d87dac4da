"""The job queue as a head service."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .operations import OPERATIONS
from .queue import JobQueue, QueueSettings

if TYPE_CHECKING:
    from ..cluster.head import HeadNode

__all__ = ["start_job_queue"]


def start_job_queue(head: HeadNode) -> JobQueue:
    """Head service factory: the persistent job queue in the head's state directory.

    It runs the operations of the default registry: the built-ins and those other
    packages (datasets) add to it."""
    j = head.settings.jobs
    settings = QueueSettings(
        max_concurrent_jobs=j.max_concurrent_jobs,
        check_interval=j.check_interval,
        default_max_cores=j.default_max_cores,
        default_max_memory_gb=j.default_max_memory_gb,
        default_retries=j.default_retries,
        aging_interval=j.aging_interval,
    )
    return JobQueue(head.cluster_manager.client, head.state_dir, settings, operations=OPERATIONS).start()

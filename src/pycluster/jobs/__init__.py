"""The job queue: priorities, persistence in SQLite, retries, checkpoints, progress."""

from __future__ import annotations

from .handle import JobHandle
from .model import Job, JobStatus, Priority
from .operations import OPERATIONS, Operation, OperationContext, get_operation, register_operation
from .progress import report_progress
from .queue import JobQueue, QueueSettings

__all__ = [
    "OPERATIONS",
    "Job",
    "JobHandle",
    "JobQueue",
    "JobStatus",
    "Operation",
    "OperationContext",
    "Priority",
    "QueueSettings",
    "get_operation",
    "register_operation",
    "report_progress",
]

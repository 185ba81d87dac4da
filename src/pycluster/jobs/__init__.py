"""The job queue: priorities, persistence in SQLite, retries, checkpoints, progress."""

from __future__ import annotations

from .handle import JobHandle
from .model import Job, JobStatus, Priority
from .operations import (
    OPERATIONS,
    Operation,
    OperationContext,
    OperationRegistry,
    builtin_operations,
    get_operation,
    register_operation,
)
from .policy import Capacity, Decision, WorkerCapacity, pick_next
from .progress import report_progress
from .queue import JobQueue, QueueSettings
from .runner import JobRunner

__all__ = [
    "OPERATIONS",
    "Capacity",
    "Decision",
    "Job",
    "JobHandle",
    "JobQueue",
    "JobRunner",
    "JobStatus",
    "Operation",
    "OperationContext",
    "OperationRegistry",
    "Priority",
    "QueueSettings",
    "WorkerCapacity",
    "builtin_operations",
    "get_operation",
    "pick_next",
    "register_operation",
    "report_progress",
]

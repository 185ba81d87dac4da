"""JobRequest: what a submitter asks for, before it is checked and becomes a :class:`Job`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .model import Priority

if TYPE_CHECKING:
    from .handle import JobHandle

__all__ = ["JobRequest"]


@dataclass(frozen=True)
class JobRequest:
    """Every option of :meth:`JobQueue.submit_job <pycluster.jobs.JobQueue.submit_job>`, in one
    object (see there for what each means). Unchecked: the queue validates it on submission and
    refuses it with a JobRejectedError naming the field."""

    operation: str
    parameters: dict[str, Any] | None = None
    dataset_id: str | None = None
    priority: Priority | str | int = Priority.NORMAL
    max_cores: float | None = None
    max_memory_gb: float | None = None
    retries: int | None = None
    client_id: str = "default"
    kind: str = "operation"
    job_id: str | None = None
    timeout_s: float | None = None
    retry_backoff_s: float | None = None
    result_ttl_s: float | None = None
    retry_of: str | None = None
    depends_on: Iterable[str | JobHandle] | None = None
    run_at: float | str | datetime | None = None
    schedule_id: str | None = None

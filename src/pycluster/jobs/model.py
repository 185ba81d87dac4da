"""The job lifecycle: statuses, priorities and the job record."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import Any

__all__ = ["FINISHED", "Job", "JobStatus", "Priority", "new_job_id"]


class JobStatus(str, Enum):
    PENDING = "pending"  # accepted, not yet in the queue
    QUEUED = "queued"  # waiting for a slot and resources
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINISHED = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})


class Priority(IntEnum):
    """Higher dispatches first; Dask gets it as task priority too (scaled: policy.dask_priority)."""

    LOW = 0
    NORMAL = 1
    HIGH = 2
    CRITICAL = 3

    @classmethod
    def parse(cls, value: object) -> Priority:
        """``Priority.HIGH``, ``"HIGH"``, ``"high"`` or ``2``; ValueError listing the names otherwise."""
        if isinstance(value, Priority):
            return value
        if isinstance(value, str) and value.strip().upper() in cls.__members__:
            return cls[value.strip().upper()]
        if isinstance(value, int) and not isinstance(value, bool) and value in {p.value for p in cls}:
            return cls(value)
        raise ValueError(f"unknown priority {value!r}; allowed: {', '.join(cls.__members__)}")


class _RandomBytes:
    """Bytes from the OS's random source, drawn 4 KiB at a time. A job id took one
    ``os.urandom`` call per submission, which lets go of the GIL: on a head whose web server,
    scheduler and dispatcher share it, taking it back could wait a whole switch interval
    (5 ms) in the middle of a REST submission."""

    def __init__(self, chunk: int = 4096) -> None:
        self._chunk = chunk
        self._lock = threading.Lock()
        self._buffer = b""
        self._at = 0

    def take(self, n: int) -> bytes:
        with self._lock:
            if self._at + n > len(self._buffer):
                self._buffer, self._at = os.urandom(max(n, self._chunk)), 0
            self._at += n
            return self._buffer[self._at - n : self._at]


_random = _RandomBytes()


def new_job_id() -> str:
    """``job_`` and 48 random bits in hex, as unguessable as ``secrets.token_hex(6)``."""
    return f"job_{_random.take(6).hex()}"


@dataclass
class Job:
    """One job, as stored in SQLite. ``kind`` is "operation" (REST) or "python"."""

    id: str
    kind: str
    operation: str
    parameters: dict[str, Any] = field(default_factory=dict)
    dataset_id: str | None = None
    priority: Priority = Priority.NORMAL
    status: JobStatus = JobStatus.PENDING
    client_id: str = "default"
    max_cores: float = 1.0
    max_memory_gb: float = 1.0
    max_retries: int = 3
    attempts: int = 0
    error: str | None = None
    pieces_total: int = 0
    pieces_done: int = 0
    progress: float = 0.0  # percent, 0..100
    eta_seconds: float | None = None
    result: Any = None
    result_path: str | None = None
    created_at: float = field(default_factory=time.time)
    queued_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    seq: int = 0  # submission order, for FIFO within a level
    timeout_s: float | None = None  # a piece on the cluster longer than this fails the job
    retry_backoff_s: float = 0.5  # first retry's delay; doubles per attempt, with jitter
    result_ttl_s: float | None = None  # a finished job (row and result file) is deleted this long after
    expires_at: float | None = None  # finished_at + result_ttl_s, set when the job finishes (indexed)
    retry_of: str | None = None  # the failed or cancelled job this one re-submitted
    depends_on: list[str] = field(default_factory=list)  # jobs that must complete before this one starts
    run_at: float | None = None  # epoch seconds: the job waits until then
    schedule_id: str | None = None  # the cron schedule that fired this job
    # why a queued job waits (set by the dispatcher on every look; never stored: it is of now)
    waiting_reason: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

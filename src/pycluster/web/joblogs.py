"""``GET /api/processing/jobs/{id}/logs``: a job's captured logs as JSON, or followed as Server-Sent Events.

Following sends what is already stored, then every new batch as it is written (looked for
every :data:`POLL_INTERVAL` seconds), and ends once the job has finished and nothing new came
for :data:`SETTLE_SECONDS` (a piece's last lines travel behind its result). Events:

- ``logs``: a :class:`~pycluster.jobs.logstore.LogPage` as JSON (``entries``, ``next_offset``);
- ``end``: ``{"job_id", "status"}``, the last event.

A comment line every :data:`KEEPALIVE_SECONDS` keeps proxies from closing a quiet stream.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request

from ..errors import JobNotFoundError
from ..jobs.logstore import JobLogs
from ..jobs.model import FINISHED
from ..jobs.queue import JobQueue

__all__ = ["KEEPALIVE_SECONDS", "POLL_INTERVAL", "SETTLE_SECONDS", "follow_logs", "logs_answer"]

POLL_INTERVAL = 0.25
SETTLE_SECONDS = 1.0
KEEPALIVE_SECONDS = 10.0


def logs_answer(queue: JobQueue, job_id: str, offset: int) -> dict[str, Any]:
    """The stored logs from ``offset`` on, the job's status and its pieces' attempts (with durations)."""
    job = queue.get(job_id)  # 404 for an unknown job
    logs: JobLogs = queue.runner.logs
    page = logs.read(job_id, offset)
    return {
        **page.to_dict(),
        "status": job.status.value,
        "pieces": [run.to_dict() for run in logs.pieces(job_id)],
    }


async def follow_logs(request: Request, queue: JobQueue, job_id: str, offset: int) -> AsyncIterator[bytes]:
    """The SSE body: stored logs, then new ones, until the job has ended and its logs settled."""
    logs: JobLogs = queue.runner.logs
    finished_at: float | None = None
    last_sent = time.monotonic()
    while not await request.is_disconnected():
        page = await asyncio.to_thread(logs.read, job_id, offset)
        now = time.monotonic()
        if page.entries:
            offset = page.next_offset
            last_sent = now
            yield _event("logs", page.to_dict())
            if finished_at is not None:
                finished_at = now  # still arriving: settle again
            continue  # more may be stored than one page
        try:
            status = queue.get(job_id).status
        except JobNotFoundError:  # deleted (or expired) while followed
            yield _event("end", {"job_id": job_id, "status": "deleted"})
            return
        if status in FINISHED:
            finished_at = finished_at or now
            if now - finished_at >= SETTLE_SECONDS:
                yield _event("end", {"job_id": job_id, "status": status.value})
                return
        if now - last_sent >= KEEPALIVE_SECONDS:
            last_sent = now
            yield b": keep-alive\n\n"
        await asyncio.sleep(POLL_INTERVAL)


def _event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()

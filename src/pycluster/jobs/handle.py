"""JobHandle: what ``head.jobs.submit`` returns."""

from __future__ import annotations

from typing import Any, Protocol

from ..errors import JobFailedError, JobStateError
from .model import Job, JobStatus

__all__ = ["JobHandle", "JobSource"]


class JobSource(Protocol):
    """What a handle needs from its queue (:class:`~pycluster.jobs.queue.JobQueue` has it)."""

    def get(self, job_id: str) -> Job: ...

    def wait(self, job_id: str, timeout: float | None = None) -> Job: ...

    def cancel(self, job_id: str) -> Job: ...

    def load_result(self, job: Job) -> Any: ...


class JobHandle:
    """A submitted job: ``status()``, ``progress()``, ``result(timeout)``, ``cancel()``.

    >>> handle = head.jobs.submit(sum, [1, 2, 3], priority=Priority.HIGH)  # doctest: +SKIP
    >>> handle.result(timeout=30)                                          # doctest: +SKIP
    6
    """

    def __init__(self, queue: JobSource, job_id: str) -> None:
        self._queue = queue
        self.job_id = job_id

    def status(self) -> JobStatus:
        return self._queue.get(self.job_id).status

    def progress(self) -> dict[str, Any]:
        """Percent done, pieces done/total and the ETA in seconds (None until measurable)."""
        job = self._queue.get(self.job_id)
        return {
            "progress": job.progress,
            "pieces_done": job.pieces_done,
            "pieces_total": job.pieces_total,
            "eta_seconds": job.eta_seconds,
        }

    def waiting_reason(self) -> str | None:
        """Why the job still waits (no workers, the slot limit, jobs ahead, too big); None once it runs."""
        return self._queue.get(self.job_id).waiting_reason

    def result(self, timeout: float | None = None) -> Any:
        """Wait for the job; its result, or JobFailedError with the last error after its retries."""
        job = self._queue.wait(self.job_id, timeout)
        if job.status == JobStatus.COMPLETED:
            return self._queue.load_result(job)
        if job.status == JobStatus.CANCELLED:
            raise JobStateError(f"job {self.job_id} was cancelled")
        raise JobFailedError(f"job {self.job_id} failed after {job.attempts} attempt(s): {job.error}")

    def cancel(self) -> None:
        self._queue.cancel(self.job_id)

    def __repr__(self) -> str:
        return f"<JobHandle {self.job_id} {self.status().value}>"

    def _repr_html_(self) -> str:
        """Jupyter's view: id, operation, status, progress with ETA, attempts, error or waiting reason."""
        from ..html_repr import Progress, html_table

        title = f"Job {self.job_id}"
        try:
            job = self._queue.get(self.job_id)
        except Exception as exc:  # deleted or expired: say so rather than fail the cell
            return html_table(title, [("status", f"unknown ({exc})")])
        pieces = f"{job.pieces_done}/{job.pieces_total} pieces, " if job.pieces_total else ""
        eta = f", about {job.eta_seconds:.0f} s left" if job.eta_seconds is not None else ""
        rows: list[tuple[str, object]] = [
            ("operation", f"{job.kind}: {job.operation}"),
            ("status", job.status.value),
            ("progress", Progress(job.progress, f"{pieces}{job.progress:.0f}%{eta}")),
            ("priority", job.priority.name.lower()),
            ("failed attempts", f"{job.attempts}, up to {job.max_retries} retries"),
        ]
        if job.waiting_reason:
            rows.append(("waiting", job.waiting_reason))
        if job.error:
            rows.append(("error", job.error))
        return html_table(title, rows)

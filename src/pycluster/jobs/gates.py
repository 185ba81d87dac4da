"""Gates before the policy: a waiting job starts only once its parents completed and its
``run_at`` has come. Pure: the queue hands in the parents' states.

A parent that failed or was cancelled (or was deleted before its dependent started) cancels
the dependent with that reason; the queue applies it and looks again, so a chain of
dependents is cancelled in one tick.

>>> from pycluster.jobs.model import Job, JobStatus
>>> child = Job("b", "operation", "echo", depends_on=["a"])
>>> gate([child], {"a": (JobStatus.RUNNING, None)}, now=0.0).held
{'b': 'waiting for job a (running)'}
>>> [(job.id, why) for job, why in gate([child], {"a": (JobStatus.FAILED, "boom")}, now=0.0).cancel]
[('b', 'parent job a failed: boom')]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone

from .model import Job, JobStatus

__all__ = ["Gated", "gate", "scheduled_reason"]

ParentStates = Mapping[str, tuple[JobStatus, str | None]]


@dataclass
class Gated:
    """``held``: why each held job waits, by id; ``cancel``: jobs to cancel, with the reason;
    ``next_run_at``: the earliest ``run_at`` still ahead (the dispatcher wakes then)."""

    held: dict[str, str] = field(default_factory=dict)
    cancel: list[tuple[Job, str]] = field(default_factory=list)
    next_run_at: float | None = None


def gate(waiting: Iterable[Job], parents: ParentStates, now: float) -> Gated:
    """Which of ``waiting`` may not start yet, and which can never start. ``parents`` holds the
    status and error of every parent named by a waiting job (a missing one no longer exists)."""
    result = Gated()
    for job in waiting:
        blockers: list[str] = []
        for parent in job.depends_on:
            state = parents.get(parent)
            if state is None:
                gone = f"parent job {parent} no longer exists (deleted before this job ran)"
                result.cancel.append((job, gone))
                break
            status, error = state
            if status in (JobStatus.FAILED, JobStatus.CANCELLED):
                why = f"parent job {parent} {status.value}" + (f": {error}" if error else "")
                result.cancel.append((job, why))
                break
            if status != JobStatus.COMPLETED:
                blockers.append(f"{parent} ({status.value})")
        else:
            if blockers:
                result.held[job.id] = _waiting_for(blockers, len(job.depends_on))
            elif job.run_at is not None and job.run_at > now:
                result.held[job.id] = scheduled_reason(job.run_at)
                first = result.next_run_at
                result.next_run_at = job.run_at if first is None else min(first, job.run_at)
    return result


def _waiting_for(blockers: list[str], parents: int) -> str:
    if len(blockers) == 1:
        return f"waiting for job {blockers[0]}"
    shown = ", ".join(blockers[:5]) + (f" and {len(blockers) - 5} more" if len(blockers) > 5 else "")
    return f"waiting for jobs {shown} ({len(blockers)} of its {parents} parents have not completed)"


def scheduled_reason(run_at: float) -> str:
    """What a job held for its ``run_at`` says while it waits."""
    return f"scheduled to run at {_iso(run_at)}"


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")

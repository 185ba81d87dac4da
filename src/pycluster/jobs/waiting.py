"""The waiting jobs, indexed so that a dispatcher look costs what can start, not how many wait.

* *Gated* jobs (``depends_on`` or ``run_at``) are kept apart: only they are checked against
  their parents and times on each look (:mod:`~pycluster.jobs.gates`).
* The others are grouped by priority, client and size (``max_cores``, ``max_memory_gb``) in
  arrival order, which is submission order (``seq``). Within a group every job fits wherever
  the first fits, belongs to the same client, and has no higher level (priority + aging) than
  the jobs before it, so the policy never prefers it to them: only the first ``free slots``
  jobs of each group that fits can start now. :meth:`WaitingJobs.candidates` hands the policy
  those, however many thousands wait behind them.
* Newly submitted (``pending``) jobs wait in a list to be marked ``queued``.

Not thread-safe: the queue holds its lock around every call, except single lookups
(:meth:`WaitingJobs.get`), which read one dict entry.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from .model import Job, JobStatus

__all__ = ["WaitingJobs"]

_SLACK = 1e-9


class WaitingJobs:
    def __init__(self) -> None:
        self._all: dict[str, Job] = {}
        self._gated: dict[str, Job] = {}
        self._groups: dict[tuple[int, str, float, float], dict[str, Job]] = {}
        self._pending: list[Job] = []

    # ------------------------------------------------------------ as a collection
    def __len__(self) -> int:
        return len(self._all)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._all

    def get(self, job_id: str) -> Job | None:
        return self._all.get(job_id)

    def values(self) -> Iterator[Job]:
        return iter(list(self._all.values()))

    # ------------------------------------------------------------ changes
    def add(self, job: Job) -> None:
        self._all[job.id] = job
        if job.depends_on or job.run_at is not None:
            self._gated[job.id] = job
        else:
            self._groups.setdefault(_group(job), {})[job.id] = job
        if job.status == JobStatus.PENDING:
            self._pending.append(job)

    def remove(self, job_id: str) -> Job | None:
        job = self._all.pop(job_id, None)
        if job is None:
            return None
        if self._gated.pop(job_id, None) is None:
            key = _group(job)
            group = self._groups.get(key)
            if group is not None:
                group.pop(job_id, None)
                if not group:
                    del self._groups[key]
        return job

    def release(self, job: Job) -> None:
        """A gated job whose parents completed and whose time has come: it joins its group."""
        if self._gated.pop(job.id, None) is not None:
            self._groups.setdefault(_group(job), {})[job.id] = job

    def take_pending(self) -> list[Job]:
        """The newly submitted jobs still waiting, once each."""
        pending, self._pending = self._pending, []
        return [job for job in pending if job.id in self._all]

    # ------------------------------------------------------------ reads for the dispatcher
    def gated(self) -> list[Job]:
        return list(self._gated.values())

    def ready(self) -> list[Job]:
        """Every waiting job that is not gated."""
        return [job for group in self._groups.values() for job in group.values()]

    def candidates(self, slots: int, free_cores: float, free_memory_gb: float) -> list[Job]:
        """The first ``slots`` jobs of each group whose size fits in what is free: the only
        ones the policy can pick now (a job further down its group is never better)."""
        found: list[Job] = []
        if slots <= 0:
            return found
        for (_, _, cores, memory_gb), group in self._groups.items():
            if cores <= free_cores + _SLACK and memory_gb <= free_memory_gb + _SLACK:
                found.extend(itertools.islice(group.values(), slots))
        return found


def _group(job: Job) -> tuple[int, str, float, float]:
    return int(job.priority), job.client_id, job.max_cores, job.max_memory_gb

"""Cron schedules: a job spec that the queue submits at every slot of a cron expression.

Stored in SQLite beside the jobs (table ``schedules``), so they survive a head restart.

Never twice for one slot: firing a slot inserts its job and moves the schedule on to its next
slot in *one* SQLite transaction, so a head killed in the middle (kill -9, power loss) leaves
either both or neither, and the next head fires the slot again only if it was not stored. The
fired job's id is derived from the schedule and the slot (and ``id`` is the jobs table's
primary key) as a second guard.

A head that was down misses slots: the oldest missed slot fires once when the head is back
(late, its ``run_at`` says which slot it was), the others are skipped.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .model import Job
from .store import JobStore

__all__ = ["JobTemplate", "Schedule", "ScheduleStore", "new_schedule_id", "slot_job_id"]


@dataclass(frozen=True)
class JobTemplate:
    """What each firing submits (the arguments of ``JobQueue.submit_job``); REST operations only."""

    operation: str
    parameters: dict[str, Any] = field(default_factory=dict)
    dataset_id: str | None = None
    priority: str = "NORMAL"
    max_cores: float | None = None
    max_memory_gb: float | None = None
    retries: int | None = None
    timeout_s: float | None = None
    retry_backoff_s: float | None = None
    result_ttl_s: float | None = None
    client_id: str = "default"


@dataclass
class Schedule:
    """A cron schedule and where it stands: ``next_run_at`` is the next slot to fire (epoch s)."""

    id: str
    cron: str
    template: JobTemplate
    next_run_at: float
    created_at: float = field(default_factory=time.time)
    fired: int = 0  # slots fired so far
    last_run_at: float | None = None  # the last slot fired
    last_job_id: str | None = None
    last_error: str | None = None  # why the last slot could not submit its job (the slot was skipped)


def new_schedule_id() -> str:
    return f"sched_{secrets.token_hex(6)}"


def slot_job_id(schedule_id: str, slot: float) -> str:
    """The id of the job a schedule fires for ``slot``: the same every time it is computed."""
    digest = hashlib.sha256(f"{schedule_id}@{slot!r}".encode()).hexdigest()[:12]
    return f"job_{digest}"


_COLUMNS = [f.name for f in fields(Schedule)]
_COLUMN_LIST = ", ".join(f"{c} {'TEXT PRIMARY KEY' if c == 'id' else ''}" for c in _COLUMNS)
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS schedules ({_COLUMN_LIST});
CREATE INDEX IF NOT EXISTS schedules_by_next ON schedules (next_run_at);
"""


class ScheduleStore:
    """The ``schedules`` table, in the jobs' database (it shares the JobStore's connection, so a
    slot's job and the schedule's move to the next slot commit together)."""

    def __init__(self, jobs: JobStore) -> None:
        self.jobs = jobs
        self._lock = threading.Lock()  # one firing at a time (the dispatcher; REST deletes)
        with jobs.reading() as db:  # executescript commits by itself
            db.executescript(_SCHEMA)

    def add(self, schedule: Schedule) -> Schedule:
        row = _to_row(schedule)
        with self.jobs.transaction() as db:
            db.execute(
                f"INSERT INTO schedules ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})",
                [*row.values()],
            )
        return schedule

    def get(self, schedule_id: str) -> Schedule | None:
        found = list(self._select("WHERE id = ?", [schedule_id]))
        return found[0] if found else None

    def all(self) -> list[Schedule]:
        return list(self._select("ORDER BY created_at", []))

    def due(self, now: float, limit: int = 100) -> list[Schedule]:
        """Schedules whose next slot has come (an index lookup)."""
        return list(self._select("WHERE next_run_at <= ? ORDER BY next_run_at LIMIT ?", [now, limit]))

    def next_due(self) -> float | None:
        with self.jobs.reading() as db:
            (first,) = db.execute("SELECT MIN(next_run_at) FROM schedules").fetchone()
        return None if first is None else float(first)

    def delete(self, schedule_id: str) -> bool:
        with self._lock, self.jobs.transaction() as db:
            return db.execute("DELETE FROM schedules WHERE id = ?", [schedule_id]).rowcount > 0

    def fire(
        self, schedule: Schedule, job: Job | None, next_run_at: float, error: str | None, pause: float = 0.0
    ) -> bool:
        """Store ``job`` (None: the slot could not make one, ``error`` says why) and move
        ``schedule`` to ``next_run_at``, in one transaction. False (nothing changed) when the
        schedule is gone or another firing moved it on first. ``pause``: seconds to wait between
        the two writes (a test kills the head there)."""
        slot = schedule.next_run_at
        try:
            with self._lock, self.jobs.transaction() as db:
                if job is not None and not self.jobs.insert_in(db, job):
                    job = None  # its job is stored already (an earlier firing): only move on
                if pause:
                    time.sleep(pause)
                moved = db.execute(
                    "UPDATE schedules SET next_run_at = ?, last_run_at = ?, fired = fired + 1, "
                    "last_job_id = COALESCE(?, last_job_id), last_error = ? WHERE id = ? AND next_run_at = ?",
                    [next_run_at, slot, job.id if job else None, error, schedule.id, slot],
                ).rowcount
                if not moved:
                    raise _Abandon
        except _Abandon:
            return False
        schedule.next_run_at, schedule.last_run_at, schedule.last_error = next_run_at, slot, error
        schedule.fired += 1
        if job is not None:
            schedule.last_job_id = job.id
        return True

    def _select(self, clause: str, args: list[Any]) -> Iterator[Schedule]:
        with self.jobs.reading() as db:
            rows = db.execute(f"SELECT {', '.join(_COLUMNS)} FROM schedules {clause}", args).fetchall()
        for values in rows:
            yield _from_row(dict(zip(_COLUMNS, values)))


class _Abandon(Exception):
    """Rolls a firing back: its schedule was deleted or moved on meanwhile."""


def _to_row(schedule: Schedule) -> dict[str, Any]:
    row = {name: getattr(schedule, name) for name in _COLUMNS}
    row["template"] = json.dumps(asdict(schedule.template))
    return row


def _from_row(row: dict[str, Any]) -> Schedule:
    row["template"] = JobTemplate(**json.loads(row["template"]))
    return Schedule(**row)

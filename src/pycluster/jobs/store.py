"""Jobs as rows in one SQLite database (WAL mode), safe to share between threads."""

from __future__ import annotations

import builtins
import json
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import fields
from pathlib import Path
from typing import Any

from ..cluster.secret_files import private_file
from .model import Job, JobStatus, Priority

__all__ = ["JobStore"]

_COLUMNS = [f.name for f in fields(Job)]
_JSON_COLUMNS = {"parameters", "result"}
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS jobs (
    {", ".join(f"{c} {'TEXT PRIMARY KEY' if c == 'id' else ''}" for c in _COLUMNS)}
);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, priority, seq);
"""


class JobStore:
    """Reads and writes :class:`Job` rows; every write is committed at once (crash safety)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(private_file(path)), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives a killed process
        self._db.executescript(_SCHEMA)

    def insert(self, job: Job) -> Job:
        with self._lock:
            (last,) = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM jobs").fetchone()
            job.seq = int(last) + 1
            row = _to_row(job)
            marks = ", ".join("?" for _ in row)
            self._db.execute(f"INSERT INTO jobs ({', '.join(row)}) VALUES ({marks})", list(row.values()))
        return job

    def update(self, job: Job, *names: str) -> None:
        """Write the named fields of ``job`` (all fields when none are named)."""
        row = _to_row(job)
        cols = names or tuple(c for c in row if c != "id")
        with self._lock:
            self._db.execute(
                f"UPDATE jobs SET {', '.join(f'{c} = ?' for c in cols)} WHERE id = ?",
                [row[c] for c in cols] + [job.id],
            )

    def get(self, job_id: str) -> Job | None:
        rows = self._select("WHERE id = ?", [job_id])
        return rows[0] if rows else None

    def with_status(self, *statuses: JobStatus) -> list[Job]:
        marks = ", ".join("?" for _ in statuses)
        return self._select(f"WHERE status IN ({marks}) ORDER BY seq", [s.value for s in statuses])

    # below this method, `list` in an annotation names it: those annotations say builtins.list
    def list(
        self, status: JobStatus | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[int, builtins.list[Job]]:
        where, args = ("WHERE status = ?", [status.value]) if status else ("", [])
        with self._lock:
            (total,) = self._db.execute(f"SELECT COUNT(*) FROM jobs {where}", args).fetchone()
        jobs = self._select(f"{where} ORDER BY seq DESC LIMIT ? OFFSET ?", [*args, limit, offset])
        return int(total), jobs

    def counts(self) -> dict[tuple[str, int], int]:
        """Number of jobs per (status, priority)."""
        with self._lock:
            rows = self._db.execute("SELECT status, priority, COUNT(*) FROM jobs GROUP BY status, priority")
            return {(status, int(priority)): int(n) for status, priority, n in rows}

    def _select(self, clause: str, args: Iterable[Any]) -> builtins.list[Job]:
        with self._lock:
            cursor = self._db.execute(f"SELECT {', '.join(_COLUMNS)} FROM jobs {clause}", list(args))
            return [_from_row(dict(zip(_COLUMNS, values))) for values in cursor.fetchall()]

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _to_row(job: Job) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for name in _COLUMNS:
        value = getattr(job, name)
        if name in _JSON_COLUMNS:
            value = json.dumps(value)
        elif isinstance(value, (JobStatus, Priority)):
            value = value.value
        row[name] = value
    return row


def _from_row(row: dict[str, Any]) -> Job:
    for name in _JSON_COLUMNS:
        row[name] = json.loads(row[name]) if row[name] is not None else None
    row["status"] = JobStatus(row["status"])
    row["priority"] = Priority(int(row["priority"]))
    return Job(**row)

"""Python jobs' pickled functions and arguments, as rows next to their jobs.

A ``jobs.submit``/``jobs.map`` payload is written in the same transaction as its job's row
(:meth:`PayloadStore.insert_in`, from the queue's group commit), so an acknowledged Python job
survives kill -9 with its code, without a file write (and removal) per job: for a trivial
job those cost more than the rest of its bookkeeping. The dispatcher keeps the payloads of
jobs submitted in this process in memory until it plans them, so a job is read back from
SQLite only after a restart. Payload files from before (``payloads/<job id>.pkl``) are still
read, and removed when their job ends.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path

from .store import JobStore

__all__ = ["PayloadStore"]

_SCHEMA = "CREATE TABLE IF NOT EXISTS payloads (job_id TEXT PRIMARY KEY, data BLOB NOT NULL)"


class PayloadStore:
    """The ``payloads`` table in the jobs' database (sharing the JobStore's connection)."""

    def __init__(self, jobs: JobStore, folder: Path) -> None:
        self.jobs = jobs
        self.folder = folder  # where older versions kept payload files
        self._lock = threading.Lock()
        self._fresh: dict[str, bytes] = {}  # submitted here and not planned yet
        with jobs.reading() as db:
            db.execute(_SCHEMA)

    def keep(self, job_id: str, data: bytes) -> None:
        """Hold ``data`` until it is written with its job (:meth:`insert_in`)."""
        with self._lock:
            self._fresh[job_id] = data

    def forget_unwritten(self, job_id: str) -> None:
        """A submission that was refused: drop what :meth:`keep` held."""
        with self._lock:
            self._fresh.pop(job_id, None)

    def insert_in(self, db: sqlite3.Connection, job_ids: Iterable[str]) -> None:
        """Write the held payloads of ``job_ids`` inside the caller's transaction."""
        with self._lock:
            rows = [(job_id, self._fresh[job_id]) for job_id in job_ids if job_id in self._fresh]
        if rows:
            db.executemany("INSERT OR REPLACE INTO payloads (job_id, data) VALUES (?, ?)", rows)

    def get(self, job_id: str) -> bytes:
        """The payload of ``job_id`` (FileNotFoundError naming the job when there is none)."""
        with self._lock:
            data = self._fresh.get(job_id)
        if data is not None:
            return data
        with self.jobs.reading() as db:
            row = db.execute("SELECT data FROM payloads WHERE job_id = ?", [job_id]).fetchone()
        if row is not None:
            return bytes(row[0])
        old = self.folder / f"{job_id}.pkl"
        if old.exists():
            return old.read_bytes()
        raise FileNotFoundError(f"the Python payload of job {job_id} is gone")

    def planned(self, job_id: str) -> None:
        """The dispatcher has what it needs (the row stays until the job ends)."""
        with self._lock:
            self._fresh.pop(job_id, None)

    def delete_in(self, db: sqlite3.Connection, job_ids: Iterable[str]) -> None:
        """Delete the payloads of ended jobs inside the caller's transaction."""
        ids = list(job_ids)
        with self._lock:
            for job_id in ids:
                self._fresh.pop(job_id, None)
        db.executemany("DELETE FROM payloads WHERE job_id = ?", [(i,) for i in ids])
        if self.folder.is_dir():  # only an older version's state directory has payload files
            for job_id in ids:
                (self.folder / f"{job_id}.pkl").unlink(missing_ok=True)

    def discard(self, job_ids: Iterable[str]) -> None:
        """Delete the payloads of ended jobs, in one transaction (and older payload files)."""
        ids = list(job_ids)
        if ids:
            with self.jobs.transaction() as db:
                self.delete_in(db, ids)

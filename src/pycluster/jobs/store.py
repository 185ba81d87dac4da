"""Jobs as rows in one SQLite database (WAL mode), safe to share between threads.

Reads never wait for a write: each thread reads through a read-only connection of its own
(WAL lets readers see the last commit while a write transaction is open), so a status request
is answered while the group commit writes a batch.

Storage faults: an insert that cannot be written raises a
:class:`~pycluster.errors.StorageError` (the submission is refused, HTTP 507/503). An update
that cannot be written (the dispatcher recording progress or a job's end on a full disk) is
kept in memory instead, served to readers, and written by :meth:`JobStore.flush`, which the
dispatcher calls on every tick: the queue goes on by itself once there is room again.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any

from ..cluster.secret_files import private_file
from ..errors import StorageError
from .model import Job, JobStatus, Priority
from .storage import check_room, storage_error

__all__ = ["JobStore"]

log = logging.getLogger(__name__)

_IN_MEMORY = {"waiting_reason"}  # fields of the moment, not rows
_COLUMNS = [f.name for f in fields(Job) if f.name not in _IN_MEMORY]
_JSON_COLUMNS = {"parameters", "result", "depends_on"}
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS jobs (
    {", ".join(f"{c} {'TEXT PRIMARY KEY' if c == 'id' else ''}" for c in _COLUMNS)}
);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, priority, seq);
"""
# made after the columns an older database lacks were added: the newest-first pages of
# GET /jobs/list, with and without a status filter, read these instead of sorting the table
_LIST_INDEXES = (
    "CREATE INDEX IF NOT EXISTS jobs_by_seq ON jobs (seq)",
    "CREATE INDEX IF NOT EXISTS jobs_by_status_seq ON jobs (status, seq)",
)
# made after the columns an older database lacks were added
_EXPIRY_INDEX = "CREATE INDEX IF NOT EXISTS jobs_by_expiry ON jobs (expires_at) WHERE expires_at IS NOT NULL"


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
        self._add_new_columns()
        self._db.execute(_EXPIRY_INDEX)
        for index in _LIST_INDEXES:
            self._db.execute(index)
        # jobs per (status, priority), counted once and kept until a write may change them
        self._counts: dict[tuple[str, int], int] | None = None
        self._unsaved: dict[str, Job] = {}  # updates a storage fault kept from the database
        self._seq: int | None = None  # the last seq given out (read from the table once)
        self._uri = path.resolve().as_uri() + "?mode=ro"
        self._local = threading.local()  # this thread's read-only connection
        self._readers: builtins.list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._readers_lock = threading.Lock()

    def _add_new_columns(self) -> None:
        """A database written by an older version lacks the newer fields' columns: add them."""
        have = {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}
        for name in _COLUMNS:
            if name not in have:
                self._db.execute(f"ALTER TABLE jobs ADD COLUMN {name}")

    @property
    def changes(self) -> int:
        """Rows written so far through this store: unchanged means every read would answer the same."""
        with self._lock:
            return self._db.total_changes

    def insert(self, job: Job) -> Job:
        """Store a new job; StorageError (nothing stored) when the state directory cannot take it."""
        self.insert_many([job])
        return job

    def insert_many(self, jobs: builtins.list[Job]) -> None:
        """Store new jobs in one transaction (one commit for all: concurrent submissions are
        written together); StorageError (none stored) when the state directory cannot take them."""
        check_room(self.path.parent)
        with self.transaction() as db:
            for job in jobs:
                if not self.insert_in(db, job):
                    raise sqlite3.IntegrityError(f"a job with id {job.id!r} exists already")

    def insert_in(self, db: sqlite3.Connection, job: Job) -> bool:
        """Insert ``job`` inside a :meth:`transaction` (its ``seq`` is set here); False, and
        nothing written, when a job with its id exists."""
        if self._seq is None:
            (last,) = db.execute("SELECT COALESCE(MAX(seq), 0) FROM jobs").fetchone()
            self._seq = int(last)
        row = _to_row(job)
        row["seq"] = self._seq + 1
        marks = ", ".join("?" for _ in row)
        cursor = db.execute(
            f"INSERT OR IGNORE INTO jobs ({', '.join(row)}) VALUES ({marks})", builtins.list(row.values())
        )
        if cursor.rowcount != 1:
            return False
        self._counts = None
        self._seq = job.seq = row["seq"]
        return True

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """The connection, inside one write transaction committed on leaving (rolled back on an
        error, which is raised as a StorageError when it is a storage fault)."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except (sqlite3.OperationalError, OSError) as exc:
                raise self._fault(exc) from None
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException as exc:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                self._seq = None  # what the rolled-back inserts took is free again: read it anew
                if isinstance(exc, (sqlite3.OperationalError, OSError)):
                    raise self._fault(exc) from None
                raise

    @contextlib.contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """A connection for reads that never waits for a write: this thread's read-only one, or
        the writer's under the lock where none could be opened."""
        db = self._reader()
        if db is not None:
            yield db
            return
        with self._lock:
            yield self._db

    def _reader(self) -> sqlite3.Connection | None:
        db: sqlite3.Connection | bool | None = getattr(self._local, "db", None)
        if db is None:
            db = self._open_reader()
            self._local.db = db
        return db if isinstance(db, sqlite3.Connection) else None

    def _open_reader(self) -> sqlite3.Connection | bool:
        """This thread's read-only connection; False when none can be opened (reads then share the
        writer's). Connections of threads that ended are closed here, so they never pile up."""
        try:
            db = sqlite3.connect(self._uri, uri=True, check_same_thread=False, isolation_level=None)
        except sqlite3.Error as exc:
            log.debug("no read-only connection to %s (%s): reads share the writer's", self.path, exc)
            return False
        # a small page cache each: a head may have dozens of request threads, the reads are index
        # lookups, and the operating system caches the file anyway (SQLite's default is 2 MB each)
        db.execute("PRAGMA cache_size=-256")
        with self._readers_lock:
            live = []
            for thread, other in self._readers:
                if thread.is_alive():
                    live.append((thread, other))
                else:
                    other.close()
            self._readers = [*live, (threading.current_thread(), db)]
        return db

    @contextlib.contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """The connection, for reads (statements run one at a time under the store's lock)."""
        with self._lock:
            yield self._db

    def update(self, job: Job, *names: str) -> None:
        """Write the named fields of ``job`` (all fields when none are named); kept for
        :meth:`flush` when the state directory cannot take the write now."""
        row = _to_row(job)
        cols = names or tuple(c for c in row if c != "id")
        try:
            with self._lock:
                if "status" in cols:
                    self._counts = None
                if job.id in self._unsaved:  # an older write is pending: write the whole row later
                    self._unsaved[job.id] = job
                    return
                self._db.execute(
                    f"UPDATE jobs SET {', '.join(f'{c} = ?' for c in cols)} WHERE id = ?",
                    [row[c] for c in cols] + [job.id],
                )
        except (sqlite3.OperationalError, OSError) as exc:
            fault = self._fault(exc)
            with self._lock:
                first = not self._unsaved
                self._unsaved[job.id] = job
            if first:
                log.warning("%s; keeping job updates in memory until they can be written", fault)

    def update_many(
        self, jobs: Iterable[Job], *names: str, also: Callable[[sqlite3.Connection], None] | None = None
    ) -> bool:
        """:meth:`update` for many jobs, in one transaction (each kept for :meth:`flush` on a fault);
        no ``names``: whole rows. ``also`` writes more in the same transaction. False when a
        storage fault kept the jobs for :meth:`flush` (``also`` then wrote nothing)."""
        jobs = builtins.list(jobs)
        names = names or tuple(c for c in _COLUMNS if c != "id")
        try:
            with self.transaction() as db:
                if also is not None:
                    also(db)
                if "status" in names:
                    self._counts = None
                for job in jobs:
                    if job.id in self._unsaved:
                        self._unsaved[job.id] = job
                        continue
                    row = _to_row(job)
                    db.execute(
                        f"UPDATE jobs SET {', '.join(f'{c} = ?' for c in names)} WHERE id = ?",
                        [row[c] for c in names] + [job.id],
                    )
        except (StorageError, sqlite3.OperationalError, OSError):
            for job in jobs:
                self.update(job, *names)  # one by one: each is kept when it cannot be written
            return False
        return True

    def flush(self) -> int:
        """Write the updates a storage fault held back; how many are still unwritten."""
        with self._lock:
            pending = list(self._unsaved.values())
        for job in pending:
            row = _to_row(job)
            cols = [c for c in row if c != "id"]
            try:
                with self._lock:
                    self._counts = None
                    self._db.execute(
                        f"UPDATE jobs SET {', '.join(f'{c} = ?' for c in cols)} WHERE id = ?",
                        [row[c] for c in cols] + [job.id],
                    )
                    if self._unsaved.get(job.id) is job:
                        del self._unsaved[job.id]
            except (sqlite3.OperationalError, OSError):
                break  # still no room: the next tick tries again
        else:
            if pending:
                log.warning("the state directory %s takes writes again; job updates saved", self.path.parent)
        with self._lock:
            return len(self._unsaved)

    def _fault(self, exc: BaseException) -> BaseException:
        return storage_error(exc, self.path.parent) or exc

    def get(self, job_id: str) -> Job | None:
        # no lock for the dict: one lookup is atomic, and the write lock is held for whole commits
        unsaved = self._unsaved.get(job_id)
        if unsaved is not None:
            return unsaved
        rows = self._select("WHERE id = ?", [job_id])
        return rows[0] if rows else None

    def statuses(self, job_ids: Iterable[str]) -> dict[str, tuple[JobStatus, str | None]]:
        """Status and error of each of ``job_ids`` that exists (one indexed query per 500 ids)."""
        ids = builtins.list(dict.fromkeys(job_ids))
        found: dict[str, tuple[JobStatus, str | None]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            query = f"SELECT id, status, error FROM jobs WHERE id IN ({marks})"
            with self._reading() as db:
                rows = db.execute(query, chunk).fetchall()
            for job_id, status, error in rows:
                unsaved = self._unsaved.get(job_id)
                found[job_id] = (unsaved.status, unsaved.error) if unsaved else (JobStatus(status), error)
        return found

    def parents(self, job_ids: Iterable[str]) -> dict[str, builtins.list[str]]:
        """The ``depends_on`` of each of ``job_ids`` that exists."""
        ids = builtins.list(dict.fromkeys(job_ids))
        found: dict[str, builtins.list[str]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" for _ in chunk)
            query = f"SELECT id, depends_on FROM jobs WHERE id IN ({marks})"
            with self._reading() as db:
                rows = db.execute(query, chunk).fetchall()
            for job_id, parents in rows:
                found[job_id] = json.loads(parents) if parents else []
        return found

    def with_status(self, *statuses: JobStatus) -> list[Job]:
        marks = ", ".join("?" for _ in statuses)
        return self._select(f"WHERE status IN ({marks}) ORDER BY seq", [s.value for s in statuses])

    # below this method, `list` in an annotation names it: those annotations say builtins.list
    def list(
        self, status: JobStatus | None = None, limit: int = 50, offset: int = 0
    ) -> tuple[int, builtins.list[Job]]:
        where, args = ("WHERE status = ?", [status.value]) if status else ("", [])
        counts = self.counts()
        total = sum(n for (s, _), n in counts.items() if status is None or s == status.value)
        jobs = self._select(f"{where} ORDER BY seq DESC LIMIT ? OFFSET ?", [*args, limit, offset])
        return int(total), [self._unsaved.get(j.id, j) for j in jobs]

    def search(
        self, statuses: Iterable[JobStatus] = (), text: str = "", limit: int = 50, offset: int = 0
    ) -> tuple[int, builtins.list[Job]]:
        """Like :meth:`list`, for any of ``statuses`` and with ``text`` in the id, operation,
        client id or error (case-insensitive); the total counts every match."""
        clauses, args = [], []
        wanted = [s.value for s in statuses]
        if wanted:
            clauses.append(f"status IN ({', '.join('?' for _ in wanted)})")
            args.extend(wanted)
        if text:
            like = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            fields_ = ("id", "operation", "client_id", "error")
            clauses.append("(" + " OR ".join(f"{f} LIKE ? ESCAPE '\\'" for f in fields_) + ")")
            args.extend([like] * len(fields_))
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._reading() as db:
            (total,) = db.execute(f"SELECT COUNT(*) FROM jobs {where}", args).fetchone()
        jobs = self._select(f"{where} ORDER BY seq DESC LIMIT ? OFFSET ?", [*args, limit, offset])
        return int(total), [self._unsaved.get(j.id, j) for j in jobs]

    def expired(self, now: float, limit: int = 100) -> builtins.list[Job]:
        """Finished jobs whose ``expires_at`` has passed (an index lookup, oldest first)."""
        clause = "WHERE expires_at IS NOT NULL AND expires_at <= ? ORDER BY expires_at LIMIT ?"
        return self._select(clause, [now, limit])

    def next_expiry(self) -> float | None:
        """The earliest ``expires_at`` of any stored job; None when no job expires."""
        query = "SELECT MIN(expires_at) FROM jobs WHERE expires_at IS NOT NULL"
        with self._reading() as db:
            (first,) = db.execute(query).fetchone()
        return None if first is None else float(first)

    def delete(self, job_id: str) -> bool:
        """Remove the job's row; False when there was none. StorageError when it cannot be written."""
        try:
            with self._lock:
                self._unsaved.pop(job_id, None)
                self._counts = None
                cursor = self._db.execute("DELETE FROM jobs WHERE id = ?", [job_id])
        except (sqlite3.OperationalError, OSError) as exc:
            raise self._fault(exc) from None
        return cursor.rowcount > 0

    def counts(self) -> dict[tuple[str, int], int]:
        """Number of jobs per (status, priority): counted (an index scan) only when a write may
        have changed them since the last count, so reading pages and totals stays cheap with
        100,000 jobs stored."""
        with self._lock:
            if self._counts is None:
                query = "SELECT status, priority, COUNT(*) FROM jobs GROUP BY status, priority"
                rows = self._db.execute(query)
                self._counts = {(status, int(priority)): int(n) for status, priority, n in rows}
            return dict(self._counts)

    def _select(self, clause: str, args: Iterable[Any]) -> builtins.list[Job]:
        with self._reading() as db:
            rows = db.execute(f"SELECT {', '.join(_COLUMNS)} FROM jobs {clause}", list(args)).fetchall()
        return [_from_row(dict(zip(_COLUMNS, values))) for values in rows]

    def close(self) -> None:
        with self._readers_lock:
            for _, db in self._readers:
                db.close()
            self._readers = []
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
    if row["depends_on"] is None:  # a row from before dependencies existed
        row["depends_on"] = []
    row["status"] = JobStatus(row["status"])
    row["priority"] = Priority(int(row["priority"]))
    return Job(**row)

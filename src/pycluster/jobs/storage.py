"""Storage faults of the state directory, told apart and named.

* A full filesystem: :class:`~pycluster.errors.StorageFullError` (HTTP 507). New jobs are
  refused while less than :data:`MIN_FREE_BYTES` are free, so jobs already running keep room
  to record how they ended; writes that fail anyway are kept and written again later
  (:class:`~pycluster.jobs.store.JobStore`), so the queue goes on by itself once space returns.
* A read-only one: :class:`~pycluster.errors.StorageError` (HTTP 503).
* A damaged or truncated database: :class:`~pycluster.errors.DatabaseDamagedError` at start-up,
  naming the file and what to do. A zero-length file counts as damaged: SQLite writes its
  header as soon as it creates a database, so an empty file is what is left of one (truncated
  by a full disk, a copy that failed, a bad restore) and must not quietly become a new,
  empty cluster.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

from ..errors import DatabaseDamagedError, StorageError, StorageFullError

__all__ = ["MIN_FREE_BYTES", "check_database", "check_room", "storage_error"]

# refuse new jobs below this much free space: running ones still need to write their ends
MIN_FREE_BYTES = 1 << 20
_HEADER = b"SQLite format 3\x00"
_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}
_READ_ONLY_ERRNOS = {errno.EROFS, errno.EACCES, errno.EPERM}


def check_room(directory: Path) -> None:
    """StorageFullError / StorageError when ``directory`` cannot take a new job now."""
    try:
        stat = os.statvfs(directory)
    except OSError:
        return  # not there yet: whoever writes first says what is wrong
    if stat.f_flag & os.ST_RDONLY:
        raise _read_only(directory, "its filesystem is mounted read-only")
    free = stat.f_bavail * stat.f_frsize
    if free < MIN_FREE_BYTES:
        raise _full(
            directory, f"{free / 1e6:.2f} MB free, new jobs need at least {MIN_FREE_BYTES / 1e6:g} MB"
        )


def storage_error(exc: BaseException, directory: Path) -> StorageError | None:
    """The StorageError that ``exc`` (from SQLite or the filesystem) means, or None if another fault."""
    if isinstance(exc, StorageError):
        return exc
    if isinstance(exc, OSError):
        if exc.errno in _FULL_ERRNOS:
            return _full(directory, os.strerror(exc.errno))
        if exc.errno in _READ_ONLY_ERRNOS:
            return _read_only(directory, os.strerror(exc.errno))
        return None
    if isinstance(exc, sqlite3.OperationalError):
        text = str(exc).lower()
        if "full" in text:  # "database or disk is full"
            return _full(directory, str(exc))
        if "readonly" in text or "read-only" in text:
            return _read_only(directory, str(exc))
        if "disk i/o error" in text:  # how SQLite reports some failed writes: tell by the room left
            try:
                check_room(directory)
            except StorageError as fault:
                return fault
            return _read_only(directory, str(exc))
    return None


def check_database(path: Path) -> None:
    """DatabaseDamagedError if the database at ``path`` exists but is truncated or damaged."""
    if not path.exists():
        return  # a new state directory: the database is created
    size = path.stat().st_size
    if size == 0:
        raise _damaged(path, "it is empty (0 bytes): it was truncated, never a new database")
    with open(path, "rb") as f:
        header = f.read(len(_HEADER))
    if header != _HEADER:
        raise _damaged(path, f"it is not an SQLite database ({size} bytes, header {header[:16]!r})")
    try:
        db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
        try:
            rows = db.execute("PRAGMA quick_check").fetchall()
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        raise _damaged(path, f"SQLite cannot read it: {exc}") from None
    problems = [str(r[0]) for r in rows if r and r[0] != "ok"]
    if problems:
        raise _damaged(path, f"SQLite's integrity check failed: {'; '.join(problems[:3])}")


def _full(directory: Path, why: str) -> StorageFullError:
    return StorageFullError(
        f"the state directory {directory} is full ({why}); free space there (or set "
        "PYCLUSTER_STATE_DIR to a roomier place and restart): the queue goes on by itself once "
        "there is room",
        str(directory),
    )


def _read_only(directory: Path, why: str) -> StorageError:
    return StorageError(
        f"the state directory {directory} cannot be written ({why}); make it writable for the "
        "user running pycluster (or set PYCLUSTER_STATE_DIR elsewhere)",
        str(directory),
    )


def _damaged(path: Path, why: str) -> DatabaseDamagedError:
    return DatabaseDamagedError(
        f"the state database {path} is damaged: {why}. Nothing was changed. Restore it from a "
        f"backup, or move it aside (mv {path} {path}.damaged) to start with an empty queue and "
        "no datasets or deployments; pycluster then creates a new one",
        str(path.parent),
    )

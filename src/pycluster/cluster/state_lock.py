"""One head per state directory: two heads on one SQLite queue would both dispatch its jobs
and both redeploy its models. The lock is an OS file lock, so a head killed with -9 leaves
nothing stale behind (the kernel drops the lock with the process).

A holder may lend its lock for one acquisition in the same process (:meth:`StateDirLock.lending`):
the standalone API, which keeps the queue and the registry of a state directory open while
its cluster is stopped, lends it to the head it starts, which then runs on that same store.
Any other head, in this process or another, is still refused."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from ..errors import ClusterError
from .secret_files import private_dir, private_file

__all__ = ["StateDirLock"]

LOCK_NAME = "head.lock"

# locks lent for one acquisition, by the resolved path of the lock file
_lent: dict[Path, StateDirLock] = {}
_lent_guard = threading.Lock()


class StateDirLock:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / LOCK_NAME
        self._file: IO[str] | None = None
        self._borrowed_from: StateDirLock | None = None

    @property
    def held(self) -> bool:
        return self._file is not None or self._borrowed_from is not None

    def acquire(self) -> None:
        """Take the lock, or ClusterError naming the head (PID) that holds it."""
        private_dir(self.path.parent)  # 0700: the jobs, results and uploads in it are the user's alone
        with _lent_guard:
            lender = _lent.pop(self.path.resolve(), None)
        if lender is not None and lender.held:
            self._borrowed_from = lender
            return
        handle = open(private_file(self.path), "a+")  # noqa: SIM115  (held open for the head's lifetime)
        try:
            _lock(handle)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise ClusterError(
                f"another head node (pid {holder}) is using the state directory {self.path.parent}: "
                "stop it first, or give this head its own --state-dir (PYCLUSTER_STATE_DIR)"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle

    @contextmanager
    def lending(self) -> Iterator[None]:
        """While inside, the next :meth:`acquire` of this state directory in this process
        shares this (held) lock instead of being refused; the borrower's release leaves it held."""
        if self._file is None:
            raise ClusterError(f"the state directory lock {self.path} is not held: nothing to lend")
        key = self.path.resolve()
        with _lent_guard:
            _lent[key] = self
        try:
            yield
        finally:
            with _lent_guard:
                if _lent.get(key) is self:
                    del _lent[key]

    def release(self) -> None:
        if self._borrowed_from is not None:
            self._borrowed_from = None  # the lender still holds it
            return
        handle, self._file = self._file, None
        if handle is not None:
            handle.close()  # closing drops the lock on every platform


if sys.platform == "win32":
    import msvcrt

    def _lock(handle: IO[str]) -> None:
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)

else:
    import fcntl

    def _lock(handle: IO[str]) -> None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)

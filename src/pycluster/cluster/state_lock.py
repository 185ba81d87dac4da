"""One head per state directory: two heads on one SQLite queue would both dispatch its jobs
and both redeploy its models. The lock is an OS file lock, so a head killed with -9 leaves
nothing stale behind (the kernel drops the lock with the process)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import IO

from ..errors import ClusterError

__all__ = ["StateDirLock"]

LOCK_NAME = "head.lock"


class StateDirLock:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / LOCK_NAME
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        """Take the lock, or ClusterError naming the head (PID) that holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")  # noqa: SIM115  (held open for the head's lifetime)
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

    def release(self) -> None:
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

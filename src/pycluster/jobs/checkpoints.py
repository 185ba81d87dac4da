"""Finished pieces of a job, kept beside the database so a restarted queue skips them."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import cloudpickle

from ..cluster.secret_files import private_dir, private_file

__all__ = ["Checkpoints"]


class Checkpoints:
    """One folder per job, one file per finished piece (written atomically)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _folder(self, job_id: str) -> Path:
        return self.root / job_id

    def save(self, job_id: str, piece: int, result: Any) -> None:
        folder = self._folder(job_id)
        # results are the user's data: 0700/0600 whatever the umask, as the rest of the state dir
        private_dir(self.root)
        private_dir(folder)
        tmp = folder / f"{piece}.tmp"
        private_file(tmp).write_bytes(cloudpickle.dumps(result))
        os.replace(tmp, folder / f"{piece}.pkl")  # a crash never leaves a half-written piece

    def load_all(self, job_id: str) -> dict[int, Any]:
        folder = self._folder(job_id)
        if not folder.is_dir():
            return {}
        return {int(p.stem): cloudpickle.loads(p.read_bytes()) for p in folder.glob("*.pkl")}

    def discard(self, job_id: str) -> None:
        shutil.rmtree(self._folder(job_id), ignore_errors=True)

"""Where a finished job's result lives: inline in the job row when small, else in a file.

A Python job's result is kept as a pickle file, the source of truth, unless it is small JSON
that reads back as the very same value (``None``, ``bool``, ``int``, ``str``, finite ``float``,
and lists and str-keyed dicts of them): then the row alone holds it, which spares a file
write and removal per trivial job."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cloudpickle

from ..cluster.secret_files import private_dir, private_file
from .model import Job

__all__ = ["INLINE_LIMIT", "FileResult", "ResultStore"]

INLINE_LIMIT = 64 * 1024  # bytes of JSON kept in the job row; larger results go to a file


@dataclass
class FileResult:
    """An operation's result that lives in a file (e.g. Parquet rows); ``summary`` stays inline."""

    path: str
    summary: dict[str, Any]


class ResultStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def save(self, job: Job, result: Any) -> tuple[Any, str | None]:
        """Persist ``result``; (inline JSON value or None, file path or None)."""
        if isinstance(result, FileResult):
            return result.summary, result.path
        text = _json_or_none(result)
        if job.kind == "python" and text is not None and len(text) <= INLINE_LIMIT and _exact(result):
            return result, None
        private_dir(self.root)  # 0700, as the state directory
        if job.kind == "python":
            # Python results may not be JSON: the pickle is the source of truth
            path = self._write(job.id, ".pkl", cloudpickle.dumps(result))
            inline = result if text is not None and len(text) <= INLINE_LIMIT else None
            return inline, str(path)
        if text is None:
            raise TypeError(f"operation {job.operation!r} returned a result that is not JSON")
        if len(text) <= INLINE_LIMIT:
            return result, None
        return None, str(self._write(job.id, ".json", text.encode()))

    def load(self, job: Job) -> Any:
        if job.result_path is None:
            return job.result
        if job.result_path.endswith(".parquet"):
            import pandas as pd

            return pd.read_parquet(job.result_path)
        data = Path(job.result_path).read_bytes()
        return cloudpickle.loads(data) if job.result_path.endswith(".pkl") else json.loads(data)

    def _write(self, job_id: str, suffix: str, data: bytes) -> Path:
        path = self.root / f"{job_id}{suffix}"
        tmp = path.with_suffix(".tmp")
        private_file(tmp).write_bytes(data)  # 0600 before the first byte, whatever the umask
        os.replace(tmp, path)  # never present a half-written result
        return path


def _exact(value: Any, depth: int = 0) -> bool:
    """Whether JSON gives ``value`` back as the same value of the same types (a tuple would
    come back a list, an int-keyed dict with str keys: those keep their pickle).

    >>> _exact({"a": [1, 2.5, None, True, "x"]}), _exact((1, 2)), _exact({1: "a"})
    (True, False, False)
    """
    if depth > 50:
        return False
    kind = type(value)
    if value is None or kind in (bool, int, str, float):
        return True
    if kind is list:
        return all(_exact(v, depth + 1) for v in value)
    if kind is dict:
        return all(type(k) is str and _exact(v, depth + 1) for k, v in value.items())
    return False


def _json_or_none(value: Any) -> str | None:
    try:
        return json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return None

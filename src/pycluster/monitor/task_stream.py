"""The task stream: which worker ran which function when, and how long each function takes.

A scheduler plugin (like Dask's ``TaskStreamPlugin``, but keeping only what the dashboard
draws): every task that leaves ``processing`` for ``memory`` or ``erred`` becomes one small
record with its compute start and stop, and adds to its function's duration statistics. It
also notes when each worker joined, for its uptime. It runs on the scheduler's loop, so each
transition costs a few attribute reads and one deque append.

>>> stream = TaskStream(keep=2)
>>> stream.transition("inc-1", "processing", "memory", worker="tcp://w:1",
...     startstops=[{"action": "compute", "start": 1.0, "stop": 1.5}])
>>> stream.functions()[0].name, stream.functions()[0].mean_s
('inc', 0.5)
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from dask.utils import key_split
from distributed.diagnostics.plugin import SchedulerPlugin

__all__ = ["FunctionStats", "TaskRecord", "TaskStream"]

KEEP_RECORDS = 5000  # a few seconds of a busy cluster; the browser asks for what is new since its last look


@dataclass(frozen=True)
class TaskRecord:
    """One task's computation on one worker (times are the scheduler's clock, seconds)."""

    seq: int
    key: str
    function: str
    worker: str
    start: float
    stop: float
    ok: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "key": self.key,
            "function": self.function,
            "worker": self.worker,
            "start": round(self.start, 4),
            "stop": round(self.stop, 4),
            "ok": self.ok,
        }


@dataclass
class FunctionStats:
    """Durations of one function's tasks since the head started."""

    name: str
    count: int = 0
    failed: int = 0
    total_s: float = 0.0
    max_s: float = 0.0
    last_s: float = 0.0

    @property
    def mean_s(self) -> float:
        return self.total_s / self.count if self.count else 0.0

    def add(self, seconds: float, ok: bool) -> None:
        self.count += 1
        self.failed += 0 if ok else 1
        self.total_s += seconds
        self.max_s = max(self.max_s, seconds)
        self.last_s = seconds

    def to_dict(self) -> dict[str, Any]:
        return {
            "function": self.name,
            "count": self.count,
            "failed": self.failed,
            "total_s": round(self.total_s, 4),
            "mean_s": round(self.mean_s, 6),
            "max_s": round(self.max_s, 6),
            "last_s": round(self.last_s, 6),
        }


class TaskStream(SchedulerPlugin):
    """Recent task records, per-function statistics, and when each worker joined."""

    name = "pycluster-task-stream"

    def __init__(self, keep: int = KEEP_RECORDS) -> None:
        self.records: deque[TaskRecord] = deque(maxlen=keep)
        self.stats: dict[str, FunctionStats] = {}
        self.joined: dict[str, float] = {}  # worker address -> wall-clock time it joined
        self._seq = itertools.count(1)

    def add_worker(self, scheduler: Any = None, worker: str | None = None) -> None:
        if worker is not None:
            self.joined[worker] = time.time()

    def remove_worker(self, scheduler: Any = None, worker: str | None = None, **kwargs: Any) -> None:
        if worker is not None:
            self.joined.pop(worker, None)

    def transition(self, key: Any, start: str, finish: str, *args: Any, **kwargs: Any) -> None:
        if start != "processing" or finish not in ("memory", "erred"):
            return
        span = _compute_span(kwargs.get("startstops") or ())
        if span is None:
            return
        function = key_split(key)
        ok = finish == "memory"
        stats = self.stats.get(function)
        if stats is None:
            stats = self.stats[function] = FunctionStats(function)
        stats.add(span[1] - span[0], ok)
        worker = str(kwargs.get("worker") or "")
        self.records.append(TaskRecord(next(self._seq), str(key), function, worker, span[0], span[1], ok))

    def since(self, seq: int, limit: int) -> list[TaskRecord]:
        """Records after ``seq`` (oldest first), at most the newest ``limit`` of them."""
        newer: list[TaskRecord] = []
        for record in reversed(self.records):
            if record.seq <= seq or len(newer) >= limit:
                break
            newer.append(record)
        newer.reverse()
        return newer

    @property
    def last_seq(self) -> int:
        return self.records[-1].seq if self.records else 0

    def functions(self) -> list[FunctionStats]:
        """Every function seen, the one with the most total time first."""
        return sorted(self.stats.values(), key=lambda s: s.total_s, reverse=True)


def _compute_span(startstops: Iterable[Mapping[str, Any]]) -> tuple[float, float] | None:
    for item in startstops:
        if item.get("action") == "compute":
            return float(item["start"]), float(item["stop"])
    return None

"""What a profiling window measured: the :class:`ProfileReport` and its parts.

The report holds objects; ``to_dict()`` is the JSON shape (``pycluster profile --json``)
and ``summary()`` the text a person reads.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..units import format_bytes

__all__ = [
    "FunctionStats",
    "HotFrame",
    "PhaseTotals",
    "ProfileReport",
    "TaskRecord",
    "WorkerSample",
    "WorkerUsage",
]


@dataclass(frozen=True)
class TaskRecord:
    """One task the cluster ran in the window (from Dask's task stream)."""

    function: str
    worker: str
    thread: int
    start: float
    stop: float
    ok: bool

    @property
    def seconds(self) -> float:
        return self.stop - self.start


@dataclass(frozen=True)
class FunctionStats:
    """Tasks of one function (Dask's key prefix): how many, and their compute time in seconds."""

    name: str
    count: int
    errors: int
    total_s: float
    mean_s: float
    min_s: float
    max_s: float


@dataclass(frozen=True)
class PhaseTotals:
    """Seconds spent, summed over all tasks, in each phase Dask's workers report.

    ``transfers`` counts transfer events: a worker fetches several keys from one peer at once.
    ``scheduler_cpu_s`` is CPU time of the scheduler's event-loop thread over the window:
    what scheduling the window's tasks (and anything else that loop serves) cost the head.
    """

    compute_s: float = 0.0
    transfer_s: float = 0.0
    transfers: int = 0
    deserialize_s: float = 0.0
    disk_s: float = 0.0
    scheduler_cpu_s: float | None = None


@dataclass(frozen=True)
class WorkerSample:
    """One reading of one worker's CPU and memory."""

    time: float
    worker: str
    cpu_percent: float
    memory_bytes: int


@dataclass(frozen=True)
class WorkerUsage:
    """A worker's CPU and memory over the window, from its samples."""

    worker: str
    name: str
    samples: int
    cpu_mean: float
    cpu_max: float
    memory_mean: int
    memory_max: int
    memory_limit: int


@dataclass(frozen=True)
class HotFrame:
    """A line of worker code from Dask's sampling profiler: samples in it, and under it."""

    function: str
    filename: str
    line: int
    self_samples: int
    total_samples: int


@dataclass(frozen=True)
class ProfileReport:
    """Everything one :class:`ClusterProfiler` window measured."""

    scheduler_address: str
    started_at: float
    stopped_at: float
    functions: list[FunctionStats]
    phases: PhaseTotals
    workers: list[WorkerUsage]
    samples: list[WorkerSample] = field(repr=False)
    tasks: list[TaskRecord] = field(repr=False)
    hot_frames: list[HotFrame]
    profile_samples: int
    sample_interval_s: float
    # tasks that finished in the window but fell out of Dask's task-stream buffer before stop()
    tasks_lost: int = 0

    @property
    def duration_s(self) -> float:
        return self.stopped_at - self.started_at

    @property
    def n_tasks(self) -> int:
        return sum(f.count for f in self.functions)

    def function(self, name: str) -> FunctionStats:
        """The stats of one function by name (KeyError naming the ones there are)."""
        for stats in self.functions:
            if stats.name == name:
                return stats
        raise KeyError(f"no tasks of {name!r} in this report; functions: {[f.name for f in self.functions]}")

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (task records and samples included)."""
        data = asdict(self)
        data["duration_s"] = self.duration_s
        data["n_tasks"] = self.n_tasks
        return data

    def summary(self) -> str:
        """A few lines for a person: tasks per function, time per phase, workers, hot code."""
        from .text import summary_text

        return summary_text(self)

    def save_html(self, path: str | Path) -> Path:
        """Write a self-contained HTML page (inline SVG charts, nothing fetched) and return its path."""
        from .html import render_html

        target = Path(path)
        target.write_text(render_html(self), encoding="utf-8")
        return target

    def __str__(self) -> str:
        return self.summary()


def memory_text(n: float) -> str:
    return format_bytes(int(n))

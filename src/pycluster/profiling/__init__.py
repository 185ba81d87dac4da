"""Profile a running cluster: tasks per function, worker CPU and memory, overheads, hot code.

>>> from pycluster.profiling import ClusterProfiler   # doctest: +SKIP
>>> profiler = ClusterProfiler()                       # doctest: +SKIP
>>> profiler.start()                                   # doctest: +SKIP
>>> report = profiler.stop()                           # doctest: +SKIP
>>> print(report.summary())                            # doctest: +SKIP
"""

from __future__ import annotations

from .profiler import ClusterProfiler
from .report import FunctionStats, HotFrame, PhaseTotals, ProfileReport, TaskRecord, WorkerSample, WorkerUsage

__all__ = [
    "ClusterProfiler",
    "FunctionStats",
    "HotFrame",
    "PhaseTotals",
    "ProfileReport",
    "TaskRecord",
    "WorkerSample",
    "WorkerUsage",
]

"""Monitoring: cluster metrics history, NVIDIA GPUs (NVML) and GPU alerts."""

from __future__ import annotations

from .gpu import GPUMonitor
from .gpu_reader import GPUReader, NvmlReader, RecordedReader
from .history import MetricsHistory, TaskCounter

__all__ = ["GPUMonitor", "GPUReader", "MetricsHistory", "NvmlReader", "RecordedReader", "TaskCounter"]

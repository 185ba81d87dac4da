"""Monitoring: cluster metrics history, the cluster's GPUs (from every worker's reports) and alerts.

This machine's GPUs (NVML, :class:`~pycluster.gpu.GPUMonitor`) are the device layer,
:mod:`pycluster.gpu`.
"""

from __future__ import annotations

from .history import MetricsHistory, TaskCounter

__all__ = ["MetricsHistory", "TaskCounter"]

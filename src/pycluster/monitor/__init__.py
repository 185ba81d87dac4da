"""Monitoring: cluster metrics history (GPU monitoring and alerts come later)."""

from __future__ import annotations

from .history import MetricsHistory, TaskCounter

__all__ = ["MetricsHistory", "TaskCounter"]

"""The job queue's status as one typed result: totals by state, waiting jobs by priority, resources."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["QueueStatus", "ResourceUsage"]


@dataclass(frozen=True)
class ResourceUsage:
    """The cluster's memory and cores, and what running jobs have reserved of them."""

    total_memory_gb: float = 0.0
    used_memory_gb: float = 0.0
    total_cores: float = 0.0
    reserved_cores: float = 0.0
    reserved_memory_gb: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        memory, used = self.total_memory_gb, self.used_memory_gb
        return {
            "total_memory_gb": round(memory, 2),
            "used_memory_gb": round(used, 2),
            "available_memory_gb": round(max(0.0, memory - used), 2),
            "memory_usage_percent": round(100 * used / memory, 2) if memory else 0.0,
            "total_cores": self.total_cores,
            "used_cores": self.reserved_cores,
            "available_cores": max(0.0, self.total_cores - self.reserved_cores),
            "reserved_memory_gb": round(self.reserved_memory_gb, 2),
        }


@dataclass(frozen=True)
class QueueStatus:
    """``JobQueue.queue_status()``: ``by_status`` counts jobs per stored status value."""

    scheduler_running: bool
    by_status: Mapping[str, int]
    priority_breakdown: Mapping[str, int]
    max_concurrent_jobs: int
    resources: ResourceUsage = field(default_factory=ResourceUsage)

    def to_dict(self) -> dict[str, Any]:
        count = self.by_status.get
        return {
            "scheduler_running": self.scheduler_running,
            "queue_status": {
                "total_pending": count("pending", 0),
                "total_queued": count("queued", 0) + count("pending", 0),
                "total_running": count("running", 0),
                "total_completed": count("completed", 0),
                "total_failed": count("failed", 0),
                "total_cancelled": count("cancelled", 0),
                "priority_breakdown": dict(self.priority_breakdown),
                "max_concurrent_jobs": self.max_concurrent_jobs,
            },
            "resource_usage": {"cluster_resources": self.resources.to_dict()},
        }

"""Typed results of the head's status calls: how to reach it, its workers, its totals.

Each is built in one place and turned into the product documents' dict shape by
``to_dict()`` at the edge (the public ``get_*`` methods, JSON output).

>>> ClusterStatus.stopped("demo").to_dict()["status"]
'stopped'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..units import format_bytes

__all__ = ["ClusterStatus", "ClusterSummary", "ConnectionInfo", "WorkerInfo"]


@dataclass(frozen=True)
class ConnectionInfo:
    """How to reach a head: scheduler address, dashboard URL, the worker command."""

    cluster_name: str
    scheduler_address: str
    dashboard_url: str | None
    dask_dashboard_url: str | None
    worker_command: str
    authenticated: bool
    host: str
    discovery_port: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "cluster_name": self.cluster_name,
            "scheduler_address": self.scheduler_address,
            "dashboard_address": self.dashboard_url,
            "dashboard_url": self.dashboard_url,
            "dask_dashboard_url": self.dask_dashboard_url,
            "api_docs_url": f"{self.dashboard_url}/docs",
            "worker_command": self.worker_command,
            "authenticated": self.authenticated,
            "host": self.host,
            "discovery_port": self.discovery_port,
        }


@dataclass(frozen=True)
class WorkerInfo:
    """One Dask worker as the scheduler's ``identity()`` describes it."""

    name: str
    address: str
    host: str | None
    status: str
    nthreads: int
    memory_limit: int
    memory_used: int
    cpu_percent: float
    tasks_executing: int
    tasks_ready: int
    tasks_in_memory: int
    resources: dict[str, float]
    nanny: str | None
    last_seen: float | None

    @classmethod
    def from_identity(cls, address: str, info: dict[str, Any]) -> WorkerInfo:
        metrics = info.get("metrics", {}) or {}
        counts = metrics.get("task_counts", {}) or {}
        return cls(
            name=str(info.get("name", address)),
            address=address,
            host=info.get("host"),
            status=str(info.get("status", "unknown")).lower(),
            nthreads=int(info.get("nthreads") or 0),
            memory_limit=int(info.get("memory_limit") or 0),
            memory_used=int(metrics.get("memory") or 0),
            cpu_percent=float(metrics.get("cpu") or 0.0),
            tasks_executing=int(counts.get("executing", 0)),
            tasks_ready=int(counts.get("ready", 0)) + int(counts.get("constrained", 0)),
            tasks_in_memory=int(counts.get("memory", 0)),
            resources=dict(info.get("resources") or {}),
            nanny=info.get("nanny"),
            last_seen=info.get("last_seen"),
        )

    @property
    def memory_usage(self) -> float | None:
        """Percent of the memory limit in use (None without a limit)."""
        return round(100.0 * self.memory_used / self.memory_limit, 2) if self.memory_limit else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.name,
            "name": self.name,
            "address": self.address,
            "host": self.host,
            "status": self.status,
            "nthreads": self.nthreads,
            "memory_limit": self.memory_limit,
            "memory_used": self.memory_used,
            "memory_usage": self.memory_usage,
            "cpu_percent": self.cpu_percent,
            "tasks_executing": self.tasks_executing,
            "tasks_ready": self.tasks_ready,
            "tasks_in_memory": self.tasks_in_memory,
            "resources": dict(self.resources),
            "nanny": self.nanny,
            "last_seen": self.last_seen,
        }


@dataclass(frozen=True)
class ClusterSummary:
    """Totals over the workers (the processing cluster document's shape, plus raw byte counts)."""

    workers: tuple[WorkerInfo, ...] = ()

    @classmethod
    def from_identity(cls, identity: dict[str, Any]) -> ClusterSummary:
        rows = (WorkerInfo.from_identity(a, info) for a, info in identity.get("workers", {}).items())
        return cls(tuple(sorted(rows, key=lambda w: w.name)))

    @property
    def n_workers(self) -> int:
        return len(self.workers)

    @property
    def total_cores(self) -> int:
        return sum(w.nthreads for w in self.workers)

    @property
    def total_memory_bytes(self) -> int:
        return sum(w.memory_limit for w in self.workers)

    @property
    def used_memory_bytes(self) -> int:
        return sum(w.memory_used for w in self.workers)

    @property
    def memory_usage_percent(self) -> float:
        total = self.total_memory_bytes
        return round(100.0 * self.used_memory_bytes / total, 2) if total else 0.0

    @property
    def active_tasks(self) -> int:
        return sum(w.tasks_executing for w in self.workers)

    @property
    def resources(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for worker in self.workers:
            for name, amount in worker.resources.items():
                totals[name] = totals.get(name, 0.0) + float(amount)
        return totals

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_workers": self.n_workers,
            "total_cores": self.total_cores,
            "total_memory": format_bytes(self.total_memory_bytes),
            "total_memory_bytes": self.total_memory_bytes,
            "used_memory": format_bytes(self.used_memory_bytes),
            "used_memory_bytes": self.used_memory_bytes,
            "memory_usage_percent": self.memory_usage_percent,
            "active_tasks": self.active_tasks,
            "ready_tasks": sum(w.tasks_ready for w in self.workers),
            "resources": self.resources,
            "workers": [w.to_dict() for w in self.workers],
        }


@dataclass(frozen=True)
class ClusterStatus:
    """A head's status: running with its addresses and totals, or stopped."""

    cluster_name: str
    connection: ConnectionInfo | None = None
    uptime_seconds: float = 0.0
    summary: ClusterSummary = field(default_factory=ClusterSummary)

    @classmethod
    def stopped(cls, cluster_name: str) -> ClusterStatus:
        return cls(cluster_name)

    @classmethod
    def running(
        cls, connection: ConnectionInfo, uptime_seconds: float, identity: dict[str, Any]
    ) -> ClusterStatus:
        summary = ClusterSummary.from_identity(identity)
        return cls(connection.cluster_name, connection, round(uptime_seconds, 1), summary)

    @property
    def status(self) -> str:
        return "stopped" if self.connection is None else "running"

    def to_dict(self) -> dict[str, Any]:
        """``HeadNode.get_cluster_status()``'s dict; a stopped head gives zero totals."""
        if self.connection is None:
            zero = {"n_workers": 0, "total_cores": 0, "active_tasks": 0, "workers": []}
            return {"cluster_name": self.cluster_name, "status": "stopped", **zero}
        return {
            "cluster_name": self.cluster_name,
            "status": "running",
            **self.connection.to_dict(),
            "uptime_seconds": self.uptime_seconds,
            **self.summary.to_dict(),
        }

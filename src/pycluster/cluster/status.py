"""Plain-dict views of a Dask scheduler's ``identity()``.

The same functions serve a head node (reading its own scheduler), a client
attached to any Dask scheduler (``client.scheduler_info()``), the REST API and
the CLI, so every surface reports the same numbers.
"""

from __future__ import annotations

from typing import Any

from ..units import format_bytes

__all__ = ["cluster_summary", "worker_rows"]


def worker_rows(identity: dict[str, Any]) -> list[dict[str, Any]]:
    """One dict per worker, sorted by name."""
    rows = [_worker_row(address, info) for address, info in identity.get("workers", {}).items()]
    return sorted(rows, key=lambda r: str(r["name"]))


def _worker_row(address: str, info: dict[str, Any]) -> dict[str, Any]:
    metrics = info.get("metrics", {}) or {}
    counts = metrics.get("task_counts", {}) or {}
    memory_limit = int(info.get("memory_limit") or 0)
    memory_used = int(metrics.get("memory") or 0)
    return {
        "id": str(info.get("name", address)),
        "name": str(info.get("name", address)),
        "address": address,
        "host": info.get("host"),
        "status": str(info.get("status", "unknown")).lower(),
        "nthreads": int(info.get("nthreads") or 0),
        "memory_limit": memory_limit,
        "memory_used": memory_used,
        "memory_usage": round(100.0 * memory_used / memory_limit, 2) if memory_limit else None,
        "cpu_percent": float(metrics.get("cpu") or 0.0),
        "tasks_executing": int(counts.get("executing", 0)),
        "tasks_ready": int(counts.get("ready", 0)) + int(counts.get("constrained", 0)),
        "tasks_in_memory": int(counts.get("memory", 0)),
        "resources": dict(info.get("resources") or {}),
        "nanny": info.get("nanny"),
        "last_seen": info.get("last_seen"),
    }


def cluster_summary(identity: dict[str, Any]) -> dict[str, Any]:
    """Totals in the processing cluster document's shape (plus raw byte counts)."""
    workers = worker_rows(identity)
    total_memory = sum(w["memory_limit"] for w in workers)
    used_memory = sum(w["memory_used"] for w in workers)
    return {
        "n_workers": len(workers),
        "total_cores": sum(w["nthreads"] for w in workers),
        "total_memory": format_bytes(total_memory),
        "total_memory_bytes": total_memory,
        "used_memory": format_bytes(used_memory),
        "used_memory_bytes": used_memory,
        "memory_usage_percent": round(100.0 * used_memory / total_memory, 2) if total_memory else 0.0,
        "active_tasks": sum(w["tasks_executing"] for w in workers),
        "ready_tasks": sum(w["tasks_ready"] for w in workers),
        "resources": _total_resources(workers),
        "workers": workers,
    }


def _total_resources(workers: list[dict[str, Any]]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for worker in workers:
        for name, amount in worker["resources"].items():
            totals[name] = totals.get(name, 0.0) + float(amount)
    return totals

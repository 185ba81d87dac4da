"""/api/cluster/*: the PyCluster dashboard API (status and workers)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from ...cluster.status import cluster_summary, worker_rows

__all__ = ["router"]

router = APIRouter(tags=["cluster"])


@router.get("/status")
async def cluster_status(request: Request) -> dict[str, Any]:
    """Cluster name, addresses, totals (workers, cores, memory, tasks) and uptime."""
    source = request.app.state.source
    summary = cluster_summary(await source.snapshot())
    summary.pop("workers")
    return {
        "status": "running",
        **source.get_connection_info(),
        "uptime_seconds": round(source.uptime_seconds, 1),
        **summary,
    }


@router.get("/workers")
async def cluster_workers(request: Request) -> dict[str, Any]:
    """One entry per worker: name, host, status, threads, CPU, memory, tasks, resources."""
    workers = worker_rows(await request.app.state.source.snapshot())
    return {"n_workers": len(workers), "workers": workers}

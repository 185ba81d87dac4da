"""/api/cluster/*: the PyCluster dashboard API (status, workers, metrics, start-head, start-worker)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from ...cluster.status import cluster_summary, worker_rows
from ..deps import ERROR_RESPONSES, controller, head

__all__ = ["router"]

router = APIRouter(responses=ERROR_RESPONSES, tags=["cluster"])


class WorkerRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    n_workers: int = Field(1, ge=1, le=256)
    threads_per_worker: int | None = Field(None, ge=1, le=1024)
    memory_limit: str | float = Field("auto", examples=["2GB", "auto", 0.5])
    resources: dict[str, float] | None = Field(None, examples=[{"GPU": 1}])


@router.get("/status")
async def cluster_status(request: Request) -> dict[str, Any]:
    """Cluster name, addresses, totals (workers, cores, memory, tasks) and uptime."""
    node = head(request)
    summary = cluster_summary(await node.snapshot())
    summary.pop("workers")
    return {
        "status": "running",
        **node.get_connection_info(),
        "uptime_seconds": round(node.uptime_seconds, 1),
        **summary,
    }


@router.get("/workers")
async def cluster_workers(request: Request) -> dict[str, Any]:
    """One entry per worker: name, host, status, threads, CPU, memory, tasks, resources."""
    workers = worker_rows(await head(request).snapshot())
    return {"n_workers": len(workers), "workers": workers}


@router.get("/metrics")
async def cluster_metrics(request: Request) -> dict[str, Any]:
    """The latest sample and the recent history (CPU, memory, network, tasks per second)."""
    history = head(request).services.get("metrics")
    samples = list(history.samples) if history else []
    return {"current": samples[-1] if samples else None, "history": samples[-300:]}


@router.post("/start-head")
def start_head(request: Request) -> dict[str, Any]:
    """Start the head (standalone API); under a running head, answers that it already runs."""
    started, node = controller(request).start_cluster()
    return {"status": "success" if started else "already_running", **node.get_connection_info()}


@router.post("/start-worker")
def start_worker(body: WorkerRequest, request: Request) -> dict[str, Any]:
    """Start worker processes on the head's machine that join this cluster."""
    return head(request).cluster_manager.add_worker(
        n_workers=body.n_workers,
        threads_per_worker=body.threads_per_worker,
        memory_limit=body.memory_limit,
        resources=body.resources,
    )

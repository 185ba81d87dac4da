"""/api/cluster/*: the PyCluster dashboard API (status, workers, metrics, start-head, start-worker)
and PyCluster v2's ``POST /api/cluster/start`` ``{cluster_name, n_workers, worker_resources}``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from ...cluster.results import ClusterStatus
from ...cluster.status import worker_rows
from ..deps import ERROR_RESPONSES, controller, head, with_dashboard
from ..models import (
    ClusterMetrics,
    ClusterRunning,
    ClusterStatusResponse,
    ClusterStopped,
    StartHeadResponse,
    WorkerList,
    WorkersStarted,
)

__all__ = ["cluster_metrics", "cluster_status", "router"]

router = APIRouter(responses=ERROR_RESPONSES, tags=["cluster"])


class WorkerRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    n_workers: int = Field(1, ge=1, le=256)
    threads_per_worker: int | None = Field(None, ge=1, le=1024)
    memory_limit: str | float = Field("auto", examples=["2GB", "auto", 0.5])
    resources: dict[str, float] | None = Field(None, examples=[{"GPU": 1}])


class ClusterStartRequest(BaseModel):
    """PyCluster v2's body; every field may be left out (the settings then decide)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"cluster_name": "my-cluster", "n_workers": 4, "worker_resources": {"GPU": 1}}]
        },
    )
    # the name ends up in file names (cluster_info_<name>.txt) and worker names
    cluster_name: str | None = Field(
        None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
    )
    n_workers: int | None = Field(None, ge=0, le=256)
    worker_resources: dict[str, Annotated[float, Field(ge=0)]] | None = None


class ClusterStartResponse(StartHeadResponse):
    n_workers: int
    worker_resources: dict[str, float] | None


async def cluster_status(request: Request) -> ClusterRunning | ClusterStopped:
    """Cluster name, addresses, totals (workers, cores, memory, tasks) and uptime; or that it is stopped.

    Served at /api/cluster/status and /api/processing/cluster/status."""
    node = controller(request).head
    if node is None:
        return ClusterStopped(**ClusterStatus.stopped(controller(request).cluster_name).to_dict())
    return _status_model(await node.cluster_status(), request)


def _status_model(status: ClusterStatus, request: Request) -> ClusterRunning | ClusterStopped:
    body = with_dashboard(request, status.to_dict())
    return ClusterRunning(**body) if status.connection is not None else ClusterStopped(**body)


async def cluster_metrics(request: Request, limit: int = Query(1000, ge=1, le=100_000)) -> ClusterMetrics:
    """The latest sample, the last ``limit`` samples (``metrics``) and the last 300 (``history``):
    CPU, memory, network, tasks per second, taken every few seconds and kept for
    ``monitoring.metrics_retention``. Served at /api/cluster/metrics and /api/processing/metrics/cluster."""
    history = head(request).services.get("metrics")
    samples = list(history.samples)[-limit:] if history else []
    return ClusterMetrics.model_validate(
        {
            "total": len(samples),
            "metrics": samples,
            "current": samples[-1] if samples else None,
            "history": samples[-300:],
        }
    )


router.add_api_route("/status", cluster_status, methods=["GET"], response_model=ClusterStatusResponse)
router.add_api_route("/metrics", cluster_metrics, methods=["GET"])


@router.get("/workers")
async def cluster_workers(request: Request) -> WorkerList:
    """One entry per worker: name, host, status, threads, CPU, memory, tasks, resources."""
    workers = worker_rows(await head(request).snapshot())
    return WorkerList.model_validate({"n_workers": len(workers), "workers": workers})


@router.post("/start-head")
def start_head(request: Request) -> StartHeadResponse:
    """Start the head (standalone API); under a running head, answers that it already runs."""
    started, node = controller(request).start_cluster()
    info = with_dashboard(request, node.get_connection_info())
    if started:
        return StartHeadResponse(status="success", **info)
    return StartHeadResponse(status="already_running", **info)


@router.post("/start", responses={409: {"description": "A cluster is already running"}})
def start_cluster(body: ClusterStartRequest, request: Request) -> ClusterStartResponse:
    """Start the cluster (standalone ``pycluster api``): the head, then ``n_workers`` local workers
    each holding ``worker_resources``. 409 when a cluster already runs (always so under a head)."""
    started, node = controller(request).start_cluster(
        cluster_name=body.cluster_name, n_workers=body.n_workers, worker_resources=body.worker_resources
    )
    if not started:
        where = node.scheduler_address or "this head"
        raise HTTPException(
            409,
            f"cluster {node.cluster_name!r} is already running at {where}; "
            "stop it first (POST /api/processing/cluster/stop) to start it with other settings",
        )
    info = with_dashboard(request, node.get_connection_info())
    return ClusterStartResponse(
        status="success",
        n_workers=int(node.get_cluster_status().get("n_workers", 0)),
        worker_resources=body.worker_resources,
        **info,
    )


@router.post("/start-worker", response_model=WorkersStarted, response_model_exclude_unset=True)
def start_worker(body: WorkerRequest, request: Request) -> dict[str, Any]:
    """Start worker processes on the head's machine that join this cluster."""
    return head(request).cluster_manager.add_worker(
        n_workers=body.n_workers,
        threads_per_worker=body.threads_per_worker,
        memory_limit=body.memory_limit,
        resources=body.resources,
    )

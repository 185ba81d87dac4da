"""/api/llm/gpu/*: the cluster's NVIDIA GPUs (PyCluster v2 document), history and alerts."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any, TypeVar

from fastapi import APIRouter, HTTPException, Query, Request

from ...gpu.readings import history_sample
from ...monitor.gpu_cluster import GPUClusterView, gpu_cluster_view
from ...monitor.gpu_service import ClusterGPUService, GPUStatusDocument, host_sample
from ..deps import ERROR_RESPONSES, controller
from ..models import GPUAlerts, GPUHistory, GPUStatus

__all__ = ["router"]

router = APIRouter(responses=ERROR_RESPONSES, tags=["gpu"])

HostQuery = Query(None, max_length=255, description="Only this host (as in summary.hosts[].host)")


@router.get("/status", response_model=GPUStatus, response_model_exclude_unset=True)
async def gpu_status(
    request: Request,
    history: int = Query(60, ge=0, le=3600, description="How many recent samples to include"),
    host: str | None = HostQuery,
) -> dict[str, Any]:
    """Every worker machine's GPUs: ``summary`` (``available``, ``count``, ``gpus``, ``hosts``,
    and ``reason`` when there are none), ``recent_metrics`` and active ``alerts``."""
    document = await _document(request, history)
    if host is not None:
        document = _found(document.only_host(host), document.summary, host)
    # a dict, not GPUStatus: response_model_exclude_unset keeps each GPU's reading to the
    # fields its driver reported, which a model built here would fill with nulls
    return document.to_dict()


@router.get("/history", response_model=GPUHistory, response_model_exclude_unset=True)
async def gpu_history(
    request: Request,
    seconds: float = Query(300.0, gt=0, le=7 * 86400, description="How far back"),
    host: str | None = HostQuery,
    gpu: int | None = Query(
        None, ge=0, le=1024, description="Only this GPU index (of each machine, or of host when given)"
    ),
) -> dict[str, Any]:
    """Samples of the last ``seconds``: per-GPU utilization, memory, temperature and power."""
    service = _service(request)
    samples = service.history.since(seconds, time.time()) if service else []
    if host is not None:
        view = service.current if service else gpu_cluster_view({})
        _check_gpu(_found(view.only_host(host), view, host), host, gpu)
        samples = [host_sample(s, host, gpu) for s in samples]
    elif gpu is not None:
        # indices repeat on every machine: GPU ``gpu`` of each one (a valid query, so no 4xx)
        samples = [history_sample([g for g in s["gpus"] if g.get("id") == gpu], s["time"]) for s in samples]
    return {"seconds": seconds, "interval": service.interval if service else None, "samples": samples}


@router.get("/alerts", response_model=GPUAlerts)
async def gpu_alerts(
    request: Request,
    active: bool = Query(False, description="Only alerts still active"),
    limit: int = Query(100, ge=1, le=500),
) -> GPUAlerts:
    """Temperature, power and memory alerts (newest last), with the thresholds that raised them."""
    service = _service(request)
    if service is None:
        return GPUAlerts(active=[], alerts=[], thresholds=None)
    alerts = service.alerts.active() if active else list(service.alerts.recent)
    return GPUAlerts.model_validate(
        {
            "active": service.alerts.active(),
            "alerts": alerts[-limit:],
            "thresholds": asdict(service.alerts.thresholds),
        }
    )


def _service(request: Request) -> ClusterGPUService | None:
    node = controller(request).head
    service = node.services.get("gpu") if node is not None else None
    return service if isinstance(service, ClusterGPUService) else None


async def _document(request: Request, history: int) -> GPUStatusDocument:
    service = _service(request)
    if service is not None:
        return service.document(history)
    # a head started without the GPU service: what the workers' heartbeats say right now;
    # no cluster (the standalone API before cluster/start): no workers, so no GPUs, and why
    node = controller(request).head
    identity = await node.snapshot() if node is not None else {"workers": {}}
    return GPUStatusDocument(gpu_cluster_view(identity), [], [], None, None)


_Found = TypeVar("_Found")


def _found(narrowed: _Found | None, view: GPUClusterView, host: str) -> _Found:
    """``narrowed`` (a view or document cut to ``host``), or a 404 that lists the known hosts."""
    if narrowed is None:
        known = ", ".join(h.host for h in view.hosts) or "none (no workers)"
        raise HTTPException(404, f"no worker runs on host {host!r}; hosts: {known}")
    return narrowed


def _check_gpu(view: GPUClusterView, host: str, gpu: int | None) -> None:
    ids = [g["id"] for g in view.gpus]
    if gpu is not None and gpu not in ids:
        known = ", ".join(str(i) for i in ids) or "none"
        raise HTTPException(404, f"host {host!r} has no GPU {gpu}; its GPUs: {known}")

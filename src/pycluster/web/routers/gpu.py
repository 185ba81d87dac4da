"""/api/llm/gpu/*: the cluster's NVIDIA GPUs (PyCluster v2 document), history and alerts."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request

from ...gpu.readings import history_sample
from ...monitor.gpu_cluster import cluster_gpu_view
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
        document["summary"] = _only_host(document["summary"], host)
        document["recent_metrics"] = [_sample_of(s, host) for s in document["recent_metrics"]]
        document["alerts"] = [a for a in document["alerts"] if a["host"] == host]
    return document


@router.get("/history", response_model=GPUHistory, response_model_exclude_unset=True)
async def gpu_history(
    request: Request,
    seconds: float = Query(300.0, gt=0, le=7 * 86400, description="How far back"),
    host: str | None = HostQuery,
    gpu: int | None = Query(None, ge=0, le=1024, description="Only this GPU index (with host)"),
) -> dict[str, Any]:
    """Samples of the last ``seconds``: per-GPU utilization, memory, temperature and power."""
    service = _service(request)
    samples = service.history.since(seconds, time.time()) if service else []
    if host is not None:
        _check_gpu(_only_host(service.view if service else {"hosts": []}, host), host, gpu)
        samples = [_sample_of(s, host, gpu) for s in samples]
    elif gpu is not None:
        raise HTTPException(422, "gpu needs host: GPU indices repeat on every machine")
    return {"seconds": seconds, "interval": service.interval if service else None, "samples": samples}


@router.get("/alerts", response_model=GPUAlerts)
async def gpu_alerts(
    request: Request,
    active: bool = Query(False, description="Only alerts still active"),
    limit: int = Query(100, ge=1, le=500),
) -> dict[str, Any]:
    """Temperature, power and memory alerts (newest last), with the thresholds that raised them."""
    service = _service(request)
    if service is None:
        return {"active": [], "alerts": [], "thresholds": None}
    alerts = service.alerts.active() if active else list(service.alerts.recent)
    return {
        "active": service.alerts.active(),
        "alerts": alerts[-limit:],
        "thresholds": vars(service.alerts.thresholds),
    }


def _service(request: Request) -> Any:
    node = controller(request).head
    return node.services.get("gpu") if node is not None else None


async def _document(request: Request, history: int) -> dict[str, Any]:
    node = controller(request).head
    service = node.services.get("gpu") if node is not None else None
    if service is not None:
        return service.status(history)
    # a head started without the GPU service: what the workers' heartbeats say right now;
    # no cluster (the standalone API before cluster/start): no workers, so no GPUs, and why
    identity = await node.snapshot() if node is not None else {"workers": {}}
    return {
        "summary": cluster_gpu_view(identity),
        "recent_metrics": [],
        "alerts": [],
        "timestamp": None,
        "interval": None,
    }


def _only_host(summary: dict[str, Any], host: str) -> dict[str, Any]:
    hosts = [h for h in summary["hosts"] if h["host"] == host]
    if not hosts:
        known = ", ".join(h["host"] for h in summary["hosts"]) or "none (no workers)"
        raise HTTPException(404, f"no worker runs on host {host!r}; hosts: {known}")
    entry = hosts[0]
    return {
        "available": entry["available"],
        "count": entry["count"],
        "reason": entry["reason"],
        "gpus": entry["gpus"],
        "hosts": hosts,
    }


def _check_gpu(summary: dict[str, Any], host: str, gpu: int | None) -> None:
    ids = [g["id"] for g in summary["gpus"]]
    if gpu is not None and gpu not in ids:
        known = ", ".join(str(i) for i in ids) or "none"
        raise HTTPException(404, f"host {host!r} has no GPU {gpu}; its GPUs: {known}")


def _sample_of(sample: dict[str, Any], host: str, gpu: int | None = None) -> dict[str, Any]:
    gpus = [g for g in sample["gpus"] if g.get("host") == host and (gpu is None or g.get("id") == gpu)]
    return history_sample(gpus, sample["time"])

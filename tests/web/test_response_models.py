"""Every JSON route under /api declares its response shape in the OpenAPI document."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fastapi.routing import APIRoute

from pycluster.config import Settings
from pycluster.web.app import create_app
from pycluster.web.controller import StandaloneController
from pycluster.web.routers import cluster, health, processing

# routes whose answers are still open dicts; this list may only shrink (a route that gains a
# schema must leave it), and it is empty now
NOT_YET_TYPED: set[str] = set()
STREAMS = {"GET /api/dashboard/stream"}


@pytest.fixture(scope="module")
def app() -> Any:
    return create_app(StandaloneController(Settings.load()))


def _is_specific(schema: dict[str, Any] | None) -> bool:
    if not schema:
        return False
    open_object = schema.get("type") == "object" and schema.get("additionalProperties") is True
    return not (open_object and "properties" not in schema)


def _typed(operation: dict[str, Any]) -> bool:
    answers = [r for code, r in operation["responses"].items() if code.startswith("2")]
    schemas = [c.get("schema") for r in answers for c in r.get("content", {}).values()]
    return bool(schemas) and all(_is_specific(s) for s in schemas)


def test_every_api_route_declares_its_response(app: Any) -> None:
    operations = {
        f"{method.upper()} {path}": operation
        for path, methods in app.openapi()["paths"].items()
        if path.startswith("/api/")
        for method, operation in methods.items()
    }
    untyped = {name for name, op in operations.items() if not _typed(op)} - STREAMS
    assert untyped == NOT_YET_TYPED
    assert len(operations) - len(untyped) >= 24


@pytest.mark.parametrize(
    "paths",
    [
        ("/api/health", "/api/processing/health"),
        ("/api/cluster/status", "/api/processing/cluster/status"),
        ("/api/cluster/metrics", "/api/processing/metrics/cluster"),
    ],
)
def test_twin_routes_share_one_implementation(paths: tuple[str, str]) -> None:
    mounted = {"/api": health, "/api/cluster": cluster, "/api/processing": processing}
    endpoints = {
        prefix + r.path: r.endpoint
        for prefix, module in mounted.items()
        for r in module.router.routes
        if isinstance(r, APIRoute)
    }
    assert endpoints[paths[0]] is endpoints[paths[1]]


# ---------------------------------------------------------------- the models keep every key
# A response model drops a key it does not declare and turns 87 into 87.0; these build the
# answers with the code that makes them and check that the model gives back the same JSON.
def _round_trip(model: Any, raw: Any) -> None:
    assert model.model_validate(raw).model_dump(mode="json", exclude_unset=True) == raw


def _reading(index: int, temperature: int) -> dict[str, Any]:
    return {
        "index": index,
        "name": "NVIDIA A100",
        "uuid": f"GPU-{index}",
        "pci_bus_id": f"00000000:0{index}:00.0",
        "memory_total": 40 * 2**30,
        "memory_used": 30 * 2**30,
        "memory_free": 10 * 2**30,
        "utilization_gpu": 87,
        "utilization_memory": 40,
        "temperature": temperature,
        "power_usage": 380500,
        "power_limit": 400000,
        "fan_speed": 50,
        "clock_sm": 1410,
        "clock_memory": 1215,
        "clock_graphics": 1410,
        "performance_state": 0,
        "throttle_reasons": 0x4,
        "ecc_corrected": 1,
        "ecc_uncorrected": 0,
        "processes": [{"pid": 42, "name": "python", "type": "compute", "used_memory": 2**30}],
    }


def _identity() -> dict[str, Any]:
    from pycluster.gpu.readings import gpu_status

    report = {
        "available": True,
        "hostname": "node-a",
        "driver_version": "550.54",
        "cuda_driver_version": 12040,
        "visible_devices": "0",
        "gpus": [gpu_status(_reading(0, 86)), gpu_status(_reading(1, 60))],
    }
    return {
        "workers": {
            "tcp://10.0.0.5:4000": {
                "host": "10.0.0.5",
                "name": "w0",
                "resources": {"GPU": 1},
                "metrics": {"gpus": report},
            },
            "tcp://10.0.0.6:4000": {"host": "10.0.0.6", "name": "w1", "metrics": {}},
        }
    }


def test_gpu_models_keep_every_key() -> None:
    from pycluster.gpu.alerts import AlertTracker, GPUThresholds
    from pycluster.gpu.readings import history_sample
    from pycluster.monitor.gpu_cluster import cluster_gpu_view
    from pycluster.web import models

    view = cluster_gpu_view(_identity())
    assert view["count"] == 2 and len(view["hosts"]) == 2
    tracker = AlertTracker(GPUThresholds(), log=False)
    tracker.update(view["gpus"], now=1.0)
    assert tracker.active()
    sample = history_sample(view["gpus"], 1.0)
    status = {
        "summary": view,
        "recent_metrics": [sample],
        "alerts": tracker.active(),
        "timestamp": "2026-01-01T00:00:00Z",
        "interval": 5,
    }
    _round_trip(models.GPUStatus, status)
    _round_trip(models.GPUHistory, {"seconds": 300.0, "interval": 5.0, "samples": [sample]})
    alerts = {"active": tracker.active(), "alerts": list(tracker.recent), "thresholds": vars(GPUThresholds())}
    _round_trip(models.GPUAlerts, alerts)


def test_llm_models_keep_every_key() -> None:
    from pycluster.llm.deployment import Deployment, ReplicaHandle
    from pycluster.llm.engines.base import GenerationResult
    from pycluster.llm.spec import DeploymentStatus, ModelSpec
    from pycluster.web import models

    dep = Deployment("dep-1", ModelSpec("gpt2", engine="transformers", notes=["cpu only"]))
    dep.replicas = [ReplicaHandle(0, "tcp://10.0.0.5:4000", status=DeploymentStatus.READY)]
    dep.refresh_status()
    dep.metrics.record(12, 40.0)
    summary = dep.summary()
    _round_trip(models.DeploymentModel, summary)
    _round_trip(models.DeploymentList, {"deployments": [summary]})
    _round_trip(
        models.DeployAccepted,
        {"message": "Deployment started", "deployment_id": "dep-1", "deployment": summary},
    )
    _round_trip(models.Undeployed, {"deployment_id": "dep-1", "status": "undeployed"})
    generated = GenerationResult("def fib(n):", 5, 7, "length").as_dict()
    answer = {
        **generated,
        "batch_size": 1,
        "engine_ms": 12.5,
        "latency_ms": 20.25,
        "deployment_id": "dep-1",
        "model_name": "gpt2",
        "replica": 0,
    }
    _round_trip(models.InferenceResult, answer)


def test_snapshot_of_a_standalone_api_keeps_every_key() -> None:
    from pycluster.web import models
    from pycluster.web.snapshot import build_snapshot

    frame = asyncio.run(build_snapshot(StandaloneController(Settings.load()), 2))
    _round_trip(models.Snapshot, frame)

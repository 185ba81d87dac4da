"""Every JSON route under /api declares its response shape in the OpenAPI document."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import APIRoute

from pycluster.config import Settings
from pycluster.web.app import create_app
from pycluster.web.controller import StandaloneController
from pycluster.web.routers import cluster, health, processing

# routes whose answers are still open dicts: the GPU and LLM documents, the dashboard snapshot and
# the session login; this list may only shrink (a route that gains a schema must leave it)
NOT_YET_TYPED = {
    "GET /api/llm/gpu/status",
    "GET /api/llm/gpu/history",
    "GET /api/llm/gpu/alerts",
    "POST /api/llm/models/deploy",
    "GET /api/llm/models",
    "GET /api/llm/models/{deployment_id}",
    "DELETE /api/llm/models/{deployment_id}",
    "POST /api/llm/models/{deployment_id}/inference",
    "POST /api/llm/models/{deployment_id}/scale",
    "GET /api/dashboard/snapshot",
    "POST /api/auth/session",
    "DELETE /api/auth/session",
}
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

"""Small helpers routers share: the controller, the head, the job queue."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from fastapi import Request
from pydantic import BaseModel

if TYPE_CHECKING:
    from ..cluster.head import HeadNode
    from ..data.registry import DatasetRegistry
    from ..jobs import JobQueue
    from .controller import HeadController, StandaloneController

__all__ = [
    "ERROR_RESPONSES",
    "ErrorDetail",
    "controller",
    "datasets",
    "head",
    "iso",
    "jobs",
    "now_iso",
    "with_dashboard",
]


def controller(request: Request) -> HeadController | StandaloneController:
    ctl: HeadController | StandaloneController = request.app.state.controller
    return ctl


def head(request: Request) -> HeadNode:
    """The running head, or ClusterNotRunningError (503 with what to do)."""
    return controller(request).require_head()


def jobs(request: Request) -> JobQueue:
    """The job queue; the standalone API's answers while its cluster is stopped too."""
    return controller(request).jobs


def datasets(request: Request) -> DatasetRegistry:
    """The dataset registry; the standalone API's answers while its cluster is stopped too."""
    return controller(request).datasets


def with_dashboard(request: Request, info: dict[str, Any]) -> dict[str, Any]:
    """``info`` (connection or cluster info) naming this app as the dashboard where the head
    runs no web service of its own (the standalone API serves the same app)."""
    url = controller(request).dashboard_url
    if url is not None and info.get("dashboard_url") is None:
        info["dashboard_url"] = url
        if "dashboard_address" in info:
            info["dashboard_address"] = url
        if "api_docs_url" in info:
            info["api_docs_url"] = f"{url}/docs"
    return info


def iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat().replace("+00:00", "Z")


def now_iso() -> str:
    return iso(datetime.now(timezone.utc).timestamp()) or ""


class ErrorDetail(BaseModel):
    """Every error answer: what happened and what to do."""

    detail: Any


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    # errors are JSON on every route, text/plain ones (/metrics) included: say so explicitly
    code: {
        "model": ErrorDetail,
        "description": text,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorDetail"}}},
    }
    for code, text in {
        400: "The request cannot be done",
        401: "An API token is required",
        403: "The path is outside the data roots",
        404: "No such job or resource",
        409: "Conflicts with the current state (e.g. cancelling a finished job)",
        413: "Request body too large",
        422: "Invalid input; the detail names the field",
        503: "The cluster is not running",
    }.items()
}

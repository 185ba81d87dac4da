"""Small helpers routers share: the controller, the head, the job queue."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

from fastapi import Request

if TYPE_CHECKING:
    from ..cluster.head import HeadNode
    from ..jobs import JobQueue
    from .controller import HeadController, StandaloneController

__all__ = ["controller", "head", "iso", "jobs", "now_iso"]


def controller(request: Request) -> HeadController | StandaloneController:
    return request.app.state.controller  # type: ignore[no-any-return]


def head(request: Request) -> HeadNode:
    """The running head, or ClusterNotRunningError (503 with what to do)."""
    return controller(request).require_head()


def jobs(request: Request) -> JobQueue:
    return head(request).jobs  # type: ignore[no-any-return]


def iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat().replace("+00:00", "Z")


def now_iso() -> str:
    return iso(datetime.now(timezone.utc).timestamp()) or ""

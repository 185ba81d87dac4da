"""GET /api/health and /api/processing/health: is the head up, and how many workers does it have."""

from __future__ import annotations

from fastapi import APIRouter, Request

from ... import __version__
from ..deps import ERROR_RESPONSES, controller, now_iso
from ..models import Health

__all__ = ["router"]

router = APIRouter(responses=ERROR_RESPONSES, tags=["health"])


@router.get("/health")
@router.get("/processing/health")
async def health(request: Request) -> Health:
    """``healthy`` with workers, ``degraded`` without, ``stopped`` when no cluster runs."""
    node = controller(request).head
    if node is None:
        return Health(
            status="stopped",
            cluster_running=False,
            scheduler="stopped",
            n_workers=0,
            version=__version__,
            timestamp=now_iso(),
        )
    n_workers = len((await node.snapshot()).get("workers", {}))
    return Health(
        status="healthy" if n_workers else "degraded",
        cluster_running=True,
        scheduler="running",
        n_workers=n_workers,
        uptime_seconds=round(node.uptime_seconds, 1),
        version=__version__,
        timestamp=now_iso(),
    )

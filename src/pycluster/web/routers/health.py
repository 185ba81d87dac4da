"""GET /api/health: is the head up, and how many workers does it have."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from ... import __version__
from ..deps import ERROR_RESPONSES, controller

__all__ = ["router"]

router = APIRouter(responses=ERROR_RESPONSES, tags=["health"])


@router.get("/health")
async def health(request: Request) -> dict[str, Any]:
    node = controller(request).head
    if node is None:
        return {"status": "stopped", "scheduler": "stopped", "n_workers": 0, "version": __version__}
    n_workers = len((await node.snapshot()).get("workers", {}))
    return {
        "status": "healthy" if n_workers else "degraded",
        "scheduler": "running",
        "n_workers": n_workers,
        "uptime_seconds": round(node.uptime_seconds, 1),
        "version": __version__,
    }

"""GET /api/health: is the head up, and how many workers does it have."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from ... import __version__

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/health")
async def health(request: Request) -> dict[str, Any]:
    source = request.app.state.source
    identity = await source.snapshot()
    n_workers = len(identity.get("workers", {}))
    return {
        "status": "healthy" if n_workers else "degraded",
        "scheduler": "running",
        "n_workers": n_workers,
        "uptime_seconds": round(source.uptime_seconds, 1),
        "version": __version__,
    }

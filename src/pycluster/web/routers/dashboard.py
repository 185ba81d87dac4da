"""/api/dashboard/*: what the web dashboard reads and changes.

``GET /stream`` is the live feed (Server-Sent Events; one producer per interval shared by
every browser); ``GET /snapshot`` is one frame of it as JSON. Alerts and the failed-task
log can be changed here. The stream is left out of the OpenAPI schema: it is not JSON. It
takes the session cookie, a Bearer token, or a one-time ``?ticket=`` from ``POST /api/auth/ticket``
(EventSource cannot send headers), never the token itself in the URL.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from ..auth import require_stream_token, require_token
from ..deps import ERROR_RESPONSES, controller, head
from ..feed import INTERVALS, LiveFeed
from ..models import AlertsView, Snapshot
from ..snapshot import build_snapshot, on_head_loop

__all__ = ["router", "stream_router"]

router = APIRouter(responses=ERROR_RESPONSES, tags=["dashboard"], dependencies=[Depends(require_token)])
stream_router = APIRouter(tags=["dashboard"], dependencies=[Depends(require_stream_token)])


class ThresholdsUpdate(BaseModel):
    """Alert thresholds as fractions (0.9 = 90 %); leave one out to keep it."""

    # strict: JSON true is no number (lax mode would take it as 1.0), as the schema says
    model_config = ConfigDict(extra="forbid", strict=True)
    cluster_cpu: float | None = Field(None, gt=0, le=1, examples=[0.9])
    cluster_memory: float | None = Field(None, gt=0, le=1, examples=[0.85])


class ClearedFailures(BaseModel):
    cleared: int = Field(description="failures removed from the dashboard's list")


def live_feed(request: Request) -> LiveFeed:
    """The app's feed, made on first use (one per app: all browsers share its producers)."""
    state = request.app.state
    feed = getattr(state, "live_feed", None)
    if not isinstance(feed, LiveFeed):
        ctrl = controller(request)
        feed = state.live_feed = LiveFeed(lambda interval: build_snapshot(ctrl, interval))
    return feed


def _history(request: Request) -> Any:
    history = head(request).services.get("metrics")
    if history is None:
        raise HTTPException(409, "this head runs without the metrics service, so it keeps no alerts")
    return history


@router.get("/snapshot", response_model=Snapshot, response_model_exclude_unset=True)
async def snapshot(request: Request) -> dict[str, Any]:
    """One frame of the live feed: cluster, workers, tasks, recent metrics, jobs, alerts."""
    return await build_snapshot(controller(request))


@stream_router.get("/stream", include_in_schema=False)
async def stream(
    request: Request, interval: int = Query(2), deltas: bool = Query(False)
) -> StreamingResponse:
    """Server-Sent Events: a ``snapshot`` event every ``interval`` seconds (1, 2, 5, 10 or 30);
    with ``deltas``, one ``snapshot`` and then a ``delta`` event per interval (``web/delta.py``)."""
    if interval not in INTERVALS:
        allowed = ", ".join(str(i) for i in INTERVALS)
        raise HTTPException(422, f"interval must be one of {allowed} seconds, got {interval}")
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    body = live_feed(request).subscribe(interval, deltas)
    return StreamingResponse(body, media_type="text/event-stream", headers=headers)


@router.get("/alerts")
async def alerts(request: Request) -> AlertsView:
    """Alert thresholds, the rules firing now, and recent alerts (newest first)."""
    history = _history(request)
    return AlertsView(**await on_head_loop(head(request), _async(history.alerts.as_dict)))


@router.put("/alerts/thresholds")
async def set_thresholds(body: ThresholdsUpdate, request: Request) -> AlertsView:
    """Change alert thresholds for this head (kept until it restarts)."""
    history = _history(request)
    values = body.model_dump(exclude_none=True)
    await on_head_loop(head(request), _async(lambda: history.alerts.set_thresholds(values)))
    return AlertsView(**await on_head_loop(head(request), _async(history.alerts.as_dict)))


@router.post("/tasks/clear-failed")
async def clear_failed(request: Request) -> ClearedFailures:
    """Clear the dashboard's list of failed tasks (the Prometheus failure counter keeps counting)."""
    history = _history(request)
    cleared = await on_head_loop(head(request), _async(history.counter.clear_failures))
    return ClearedFailures(cleared=cleared)


def _async(func: Any) -> Any:
    async def call() -> Any:
        return func()

    return call

"""create_app: the FastAPI application a head node serves on its dashboard port."""

from __future__ import annotations

from importlib import resources

from fastapi import Depends, FastAPI
from fastapi.responses import HTMLResponse

from .. import __version__
from .auth import require_token
from .routers import cluster, health
from .source import ClusterSource

__all__ = ["create_app"]


def create_app(source: ClusterSource, api_token: str | None = None) -> FastAPI:
    """The app for ``source`` (a running HeadNode); routers slot in under /api."""
    app = FastAPI(
        title="pycluster",
        version=__version__,
        description="REST API of a pycluster head node: cluster status, workers, health.",
    )
    app.state.source = source
    settings = getattr(source, "settings", None)
    app.state.api_token = api_token or (settings.cluster.api_token if settings else None)
    protected = [Depends(require_token)]
    app.include_router(health.router, prefix="/api", dependencies=protected)
    app.include_router(cluster.router, prefix="/api/cluster", dependencies=protected)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def landing_page() -> str:
        return _landing_page(source)

    return app


def _landing_page(source: ClusterSource) -> str:
    from html import escape

    template = resources.files("pycluster.web.static").joinpath("index.html").read_text("utf-8")
    info = source.get_connection_info()
    values = {
        "cluster_name": info.get("cluster_name") or "",
        "scheduler_address": info.get("scheduler_address") or "",
        "worker_command": info.get("worker_command") or "",
        "dask_dashboard_url": info.get("dask_dashboard_url") or "",
        "version": __version__,
    }
    for key, value in values.items():
        template = template.replace("{{" + key + "}}", escape(str(value), quote=True))
    return template

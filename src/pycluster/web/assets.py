"""The dashboard's files: the page at ``/`` and our static files (uPlot vendored among them).

Nothing is fetched from a CDN, so the dashboard works on an air-gapped cluster. The chart
library, uPlot (~50 kB), is vendored under ``static/vendor/`` (see its README.md there).
"""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["mount_dashboard"]

# defence in depth: the page builds its DOM from data as text, and may load nothing but our files
_PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data:; "
        "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
}


def _index_html() -> str:
    return resources.files("pycluster.web.static").joinpath("index.html").read_text("utf-8")


def mount_dashboard(app: FastAPI) -> None:
    """Serve the dashboard page and ``/static/*`` (no auth: no data)."""

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def dashboard_page() -> HTMLResponse:
        return HTMLResponse(_index_html(), headers=_PAGE_HEADERS)

    app.mount("/static", StaticFiles(packages=[("pycluster.web", "static")]), name="static")

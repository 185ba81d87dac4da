"""The dashboard's files: the page at ``/``, our static files, and plotly.js from the plotly wheel.

Nothing is fetched from a CDN, so the dashboard works on an air-gapped cluster. plotly.js
(~4.8 MB) is gzipped once per process and cached by browsers, so each browser downloads
it about once a day.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import hashlib
from importlib import resources

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from ..dashboard.plotly_bundle import plotly_js_path

__all__ = ["PLOTLY_URL", "mount_dashboard"]

PLOTLY_URL = "/vendor/plotly.min.js"
_CACHE_DAY = "public, max-age=86400"
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


@functools.lru_cache(maxsize=1)
def _plotly_bundle() -> tuple[bytes, bytes, str] | None:
    path = plotly_js_path()
    if path is None:
        return None
    raw = path.read_bytes()
    return raw, gzip.compress(raw, compresslevel=6, mtime=0), hashlib.sha256(raw).hexdigest()[:16]


def _index_html() -> str:
    return resources.files("pycluster.web.static").joinpath("index.html").read_text("utf-8")


def mount_dashboard(app: FastAPI) -> None:
    """Serve the dashboard page, ``/static/*`` and ``/vendor/plotly.min.js`` (no auth: no data)."""

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def dashboard_page() -> HTMLResponse:
        return HTMLResponse(_index_html(), headers=_PAGE_HEADERS)

    @app.get(PLOTLY_URL, include_in_schema=False)
    async def plotly_js(request: Request) -> Response:
        bundle = await asyncio.to_thread(_plotly_bundle)  # first call gzips 4.8 MB: not on the loop
        if bundle is None:
            raise HTTPException(404, "plotly is not installed: pip install plotly (the charts need it)")
        raw, packed, etag = bundle
        headers = {"Cache-Control": _CACHE_DAY, "ETag": f'"{etag}"', "Vary": "Accept-Encoding"}
        if request.headers.get("if-none-match") == f'"{etag}"':
            return Response(status_code=304, headers=headers)
        if "gzip" in request.headers.get("accept-encoding", ""):
            headers["Content-Encoding"] = "gzip"
            return Response(packed, media_type="text/javascript", headers=headers)
        return Response(raw, media_type="text/javascript", headers=headers)

    app.mount("/static", StaticFiles(packages=[("pycluster.web", "static")]), name="static")

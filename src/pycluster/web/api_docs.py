"""``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) served from files installed with the package.

FastAPI's own pages load Swagger UI, ReDoc, a favicon and Google Fonts from CDNs, so on an
air-gapped cluster they are blank. The same pages here point at the copies the
``fastapi-offline`` wheel ships (Swagger UI bundle and CSS, ReDoc standalone, favicon), served
under ``/docs/assets`` with a day's cache. No page needs a token: the schema holds no data, and
Swagger UI's Authorize button (the HTTP bearer scheme) sends the API token on "Try it out".
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

__all__ = ["ASSETS_URL", "mount_api_docs"]

ASSETS_URL = "/docs/assets"


class _CachedStatic(StaticFiles):
    """The vendored files change only with the installed package: browsers may keep them a day."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_cached(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"cache-control", b"public, max-age=86400"))
            await send(message)

        await super().__call__(scope, receive, send_cached)


def mount_api_docs(app: FastAPI) -> None:
    """Serve ``/docs``, ``/docs/oauth2-redirect``, ``/redoc`` and their assets (create the app
    with ``docs_url=None, redoc_url=None`` so FastAPI's CDN pages are not there too)."""
    openapi_url = app.openapi_url or "/openapi.json"
    title = f"{app.title} {app.version} API"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=title,
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
            oauth2_redirect_url="/docs/oauth2-redirect",
            swagger_ui_parameters={"persistAuthorization": True},
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=title,
            redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )

    app.mount(ASSETS_URL, _CachedStatic(packages=[("fastapi_offline", "static")]), name="api-docs-assets")

"""/docs and /redoc work without internet: every file they load comes from the head itself."""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import httpx
import pytest


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_only_same_origin_files(api: httpx.Client, page: str) -> None:
    response = api.get(page)
    assert response.status_code == 200 and "text/html" in response.headers["content-type"]
    html = response.text
    assert "http://" not in html and "https://" not in html and "//cdn" not in html
    urls = re.findall(r'<(?:script|link)\b[^>]*?\b(?:src|href)="([^"]+)"', html)
    assert len(urls) >= 2, urls  # the bundle and at least the favicon or the stylesheet
    base = str(api.base_url)
    for url in urls:
        absolute = urljoin(base + page, url)
        assert urlsplit(absolute).netloc == urlsplit(base).netloc, url
        asset = api.get(absolute)
        assert asset.status_code == 200 and len(asset.content) > 0, url
        assert "max-age" in asset.headers.get("cache-control", ""), url
    assert "/openapi.json" in html


def test_swagger_ui_bundle_is_the_real_one(api: httpx.Client) -> None:
    js = api.get("/docs/assets/swagger-ui-bundle.js")
    assert js.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert "SwaggerUIBundle" in js.text and len(js.content) > 500_000
    assert "Redoc" in api.get("/docs/assets/redoc.standalone.js").text


def test_openapi_has_a_bearer_scheme_on_protected_routes(api: httpx.Client) -> None:
    schema = api.get("/openapi.json").json()
    schemes = schema["components"]["securitySchemes"]
    bearer = [name for name, s in schemes.items() if s["type"] == "http" and s["scheme"] == "bearer"]
    assert bearer, schemes
    status = schema["paths"]["/api/cluster/status"]["get"]
    assert {bearer[0]: []} in status["security"]
    assert {bearer[0]: []} in schema["paths"]["/metrics"]["get"]["security"]
    assert api.get("/docs/oauth2-redirect").status_code == 200

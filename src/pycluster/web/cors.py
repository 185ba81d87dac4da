"""Cross-origin access (CORS) for browser pages served elsewhere: off unless origins are listed.

A listed origin (``https://app.example.org``) gets preflight answers and
``Access-Control-Allow-Origin`` for /api and /v1, with the Bearer token in ``Authorization``;
never with cookies (``allow_credentials`` stays off), so a listed site cannot act with the
dashboard's session. Any other Origin is refused by ``origin.py`` before this runs.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import ConfigError

__all__ = ["CORS_HEADERS", "CORS_METHODS", "parse_origin", "parse_origins"]

CORS_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
CORS_HEADERS = ["Authorization", "Content-Type"]


def parse_origin(text: str) -> str:
    """``" HTTPS://App.Example.org/ "`` -> ``"https://app.example.org"``; anything that is not
    ``http(s)://host[:port]`` is a ConfigError (a wildcard too: list the sites)."""
    from .origin import split_host

    origin = text.strip().rstrip("/").lower()
    scheme, sep, host = origin.partition("://")
    if origin == "*" or "*" in host:
        raise ConfigError(
            f"CORS origin {text!r}: wildcards are not accepted; list each site that may call this API, "
            "such as https://app.example.org"
        )
    if not sep or scheme not in {"http", "https"} or not host or "/" in host or not split_host(host)[0]:
        raise ConfigError(
            f"CORS origin {text!r} is not an origin: give scheme, host and optional port, such as "
            "https://app.example.org or http://localhost:3000 (no path)"
        )
    return origin


def parse_origins(values: Iterable[str]) -> list[str]:
    return [parse_origin(v) for v in values]

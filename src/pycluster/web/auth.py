"""Bearer-token check for /api and /v1 when the head has an API token."""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import HTTPException, Request, status

from ..cluster.secret_files import say_secret, secret_in_file

if TYPE_CHECKING:
    from ..config import Settings

__all__ = ["STREAM_TOKEN_COOKIE", "ensure_token", "is_loopback", "require_stream_token", "require_token"]

STREAM_TOKEN_COOKIE = "pycluster_token"


async def require_token(request: Request) -> None:
    """FastAPI dependency: 401 unless ``Authorization: Bearer <token>`` matches (constant time)."""
    expected: str | None = request.app.state.api_token
    if not expected:
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="this cluster needs an API token: send 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )


async def require_stream_token(request: Request) -> None:
    """Like ``require_token``, for the dashboard's event stream only: EventSource cannot send
    headers, so the token may also come as ``?token=`` or the ``pycluster_token`` cookie."""
    expected: str | None = request.app.state.api_token
    if not expected:
        return
    scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
    candidates = [
        bearer if scheme.lower() == "bearer" else "",
        request.query_params.get("token", ""),
        request.cookies.get(STREAM_TOKEN_COOKIE, ""),
    ]
    # compare every candidate (constant time each) so timing says nothing about which one matched
    matches = [hmac.compare_digest(c.encode(), expected.encode()) for c in candidates]
    if not any(matches):
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="this cluster needs an API token: add ?token=<token> to the stream URL",
        )


def is_loopback(host: str) -> bool:
    if host in {"localhost", ""}:
        return host == "localhost"
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def ensure_token(
    settings: Settings, state_dir: Path, announce: Callable[[str], None] | None = None
) -> str:
    """The API token to require: every head has one. When none is configured, one is
    generated once, stored user-only in the state directory and reused.

    On loopback the same OS user's own programs are let in without it (see
    :mod:`pycluster.web.auth`); everyone else, and every request from the network, needs it.
    A head open to the network announces a generated token (the value only on a terminal).
    """
    c = settings.cluster
    if c.api_token:
        return c.api_token
    say = announce or (lambda text: print(text, file=sys.stderr, flush=True))
    path = state_dir / "api_token"
    c.api_token, created = secret_in_file(path, lambda: secrets.token_urlsafe(24))
    if is_loopback(c.host):
        return c.api_token
    if not created:
        say(f"pycluster: {c.host} is not loopback; using the API token stored in {path}")
        return c.api_token
    say_secret(f"an API token for this head on {c.host}", c.api_token, path, say)
    say("Send it as 'Authorization: Bearer <token>', or set PYCLUSTER_API_TOKEN to choose your own.")
    return c.api_token

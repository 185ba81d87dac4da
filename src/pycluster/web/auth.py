"""Bearer-token check for /api and /v1 when the head has an API token."""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request, status

__all__ = ["require_token"]


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

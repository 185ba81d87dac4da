"""Request bodies: who may send one, and how much of it is read.

A pure ASGI middleware, so it sees a request before anything reads its body:

- A body sent to a protected route (``/api``, ``/v1``, ``/metrics``; not the sign-in itself)
  needs valid credentials first (``auth.check_credentials``, from the headers and the
  connection alone). Without them the answer is 401 and not one byte of the body is read:
  FastAPI reads a body before it runs the route's dependencies, so the token dependency alone
  would let an anonymous client make the head buffer a body of any size.
- The size cap holds for every body, however it is framed: a ``Content-Length`` over the cap
  is refused before reading; a chunked (or lying) body is counted as it arrives and refused
  with 413 as soon as the count passes the cap. Uploads have their own, larger cap.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from fastapi import HTTPException
from starlette.requests import Request

from .auth import check_credentials

__all__ = ["MAX_BODY_BYTES", "MAX_UPLOAD_BYTES", "BodyGuard", "BodyTooLarge"]

MAX_BODY_BYTES = 1_000_000  # larger request bodies get 413: uploads have their own endpoint
MAX_UPLOAD_BYTES = 200_000_000 + 64_000  # the upload limit plus room for the multipart framing
_UPLOAD_SUFFIX = "/data/upload"
_PROTECTED = ("/api/", "/v1/", "/metrics")
_OPEN = ("/api/auth/session",)  # signing in checks the token in the route; its body is tiny

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a body passes its cap. An HTTPException so that whatever
    reads the body (FastAPI's parsing re-raises these) answers 413, not "cannot parse"."""

    def __init__(self, cap: int) -> None:
        super().__init__(413, f"request body over {cap} bytes; send less")


def cap_for(path: str) -> int:
    return MAX_UPLOAD_BYTES if path.endswith(_UPLOAD_SUFFIX) else MAX_BODY_BYTES


def _needs_credentials(path: str) -> bool:
    return path.startswith(_PROTECTED) and not path.startswith(_OPEN)


def _has_body(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() != b"0"):
            return True
    return False


def _declared_length(scope: Scope) -> int | None:
    """The Content-Length, or None when absent; -1 when it is not a number."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.strip()
            return int(text) if text.isdigit() else -1
    return None


async def _answer(send: Send, status: int, detail: str, headers: Mapping[str, str] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    raw = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        # the rest of the body is never read: the server must not wait for it on this connection
        (b"connection", b"close"),
        *((k.lower().encode(), v.encode()) for k, v in (headers or {}).items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class BodyGuard:
    """Authenticate before reading a body; count every body against its cap while it streams."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _has_body(scope):
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        if _needs_credentials(path):
            try:
                check_credentials(Request(scope))
            except HTTPException as refused:
                await _answer(send, refused.status_code, str(refused.detail), refused.headers)
                return
        cap = cap_for(path)
        declared = _declared_length(scope)
        if declared is not None and (declared < 0 or declared > cap):
            await _answer(send, 413, f"request body over {cap} bytes; send less")
            return
        seen = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > cap:
                    raise BodyTooLarge(cap)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLarge as exc:
            if started:
                raise
            await _answer(send, 413, str(exc.detail))

"""Signing the dashboard in and out, and stream tickets.

- ``GET /login?token=...``: the link a head prints. Checks the token, sets the session and
  CSRF cookies, and redirects (303) to ``/`` so the token leaves the address bar and history.
- ``POST /api/auth/session`` with ``Authorization: Bearer <token>``: the same, for the
  dashboard's sign-in form (JSON answer). ``DELETE /api/auth/session`` signs out.
- ``POST /api/auth/ticket``: a single-use ticket for ``/api/dashboard/stream?ticket=``, for
  clients that can neither send headers nor keep cookies.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, Field

from .auth import (
    CSRF_COOKIE,
    NEEDS_TOKEN,
    SESSION_COOKIE,
    TICKET_TTL,
    bearer_scheme,
    cookie_name,
    csrf_value,
    issue_ticket,
    require_token,
    session_value,
    token_matches,
    unauthorized,
)
from .deps import ERROR_RESPONSES
from .models import SessionState

__all__ = ["login_router", "router"]

router = APIRouter(tags=["auth"], responses=ERROR_RESPONSES)
login_router = APIRouter()
_NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


class SessionAnswer(BaseModel):
    authenticated: bool
    token_required: bool = Field(description="false when this head has no API token at all")


class TicketAnswer(BaseModel):
    ticket: str = Field(description="pass as /api/dashboard/stream?ticket=...; works once")
    expires_in: int = Field(TICKET_TTL, description="seconds the ticket stays valid")


def _set_session(request: Request, response: Response, token: str) -> None:
    secure = request.url.scheme == "https"
    for base, value, httponly in (
        (SESSION_COOKIE, session_value(token), True),  # the page never sees it
        (CSRF_COOKIE, csrf_value(token), False),  # the page echoes it as X-CSRF-Token
    ):
        response.set_cookie(
            cookie_name(request, base), value, path="/", samesite="strict", secure=secure, httponly=httponly
        )


def _clear_session(request: Request, response: Response) -> None:
    secure = request.url.scheme == "https"
    for base, httponly in ((SESSION_COOKIE, True), (CSRF_COOKIE, False)):
        response.delete_cookie(
            cookie_name(request, base), path="/", samesite="strict", secure=secure, httponly=httponly
        )


@login_router.get("/login", include_in_schema=False)
async def login(request: Request, token: str = "") -> Response:
    """The printed dashboard link: checks the token, sets the cookies, and sends the browser on to ``/``."""
    expected: str | None = request.app.state.api_token
    if expected and not token_matches(token, expected):
        return JSONResponse(
            {"detail": "that token was not accepted: use the dashboard link the head printed"},
            status_code=401,
            headers=_NO_STORE,
        )
    response = RedirectResponse("/", status_code=303, headers=_NO_STORE)
    if expected:
        _set_session(request, response, expected)
    return response


@router.post("/session", response_model=SessionState)
async def sign_in(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer_scheme)
) -> JSONResponse:
    """Sign a browser in: send the token as ``Authorization: Bearer <token>``; the answer sets an
    HttpOnly session cookie and a CSRF cookie (echo it as ``X-CSRF-Token`` on changes)."""
    expected: str | None = request.app.state.api_token
    if not expected:
        return JSONResponse({"authenticated": True, "token_required": False}, headers=_NO_STORE)
    if credentials is None or not token_matches(credentials.credentials, expected):
        raise unauthorized(NEEDS_TOKEN)
    response = JSONResponse({"authenticated": True, "token_required": True}, headers=_NO_STORE)
    _set_session(request, response, expected)
    return response


@router.delete("/session", response_model=SessionState)
async def sign_out(request: Request) -> JSONResponse:
    """Sign this browser out: clears the session and CSRF cookies."""
    response = JSONResponse(
        {"authenticated": False, "token_required": bool(request.app.state.api_token)}, headers=_NO_STORE
    )
    _clear_session(request, response)
    return response


@router.post("/ticket", dependencies=[Depends(require_token)])
async def stream_ticket(request: Request) -> TicketAnswer:
    """A one-time ticket for the live stream: ``GET /api/dashboard/stream?ticket=...`` within 30 s."""
    return TicketAnswer(ticket=issue_ticket(request), expires_in=TICKET_TTL)

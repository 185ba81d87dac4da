"""Who may use /api and /v1: the API token (Bearer), the dashboard's session cookie, or the same
OS user on loopback.

- ``Authorization: Bearer <token>``: any client, compared in constant time.
- The session cookie that ``GET /login?token=`` or ``POST /api/auth/session`` sets (an HMAC of
  the token, never the token). Cookie-authenticated state changes (POST, PUT, PATCH, DELETE)
  also need ``X-CSRF-Token`` equal to the CSRF cookie (double submit; the value is a second
  HMAC of the token, so a cookie planted by another site cannot match it).
- No token at all from the head's own OS user on loopback, the way a Unix socket's peer
  credentials work: the peer is on 127.0.0.0/8 or ::1, the socket it connects from belongs to our
  uid (see ``peercred``), the ``Host`` names a loopback host, and the request carries neither a
  proxy's forwarding headers (a same-user reverse proxy must not launder the network into
  "local") nor a browser's ``Origin``/``Sec-Fetch-*`` headers (a browser runs as the user but on
  behalf of whatever page it shows; it signs in with the cookie, as Jupyter's does).

The Host/Origin checks in ``origin.py`` run before all of this, on every request.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..cluster.ports import is_loopback
from ..cluster.secret_files import head_secret, read_secret
from .origin import is_loopback_name, split_host
from .peercred import PeerCredentials, is_loopback_ip

if TYPE_CHECKING:
    from ..config import Settings

__all__ = [
    "CSRF_COOKIE",
    "CSRF_HEADER",
    "NEEDS_TOKEN",
    "SESSION_COOKIE",
    "TICKET_TTL",
    "bearer_scheme",
    "check_credentials",
    "cookie_name",
    "csrf_value",
    "ensure_token",
    "is_loopback",
    "issue_ticket",
    "local_peer_trusted",
    "require_stream_token",
    "require_token",
    "session_value",
    "token_matches",
    "unauthorized",
]

SESSION_COOKIE = "pycluster-session"  # + "-<port>": heads on one host do not overwrite each other's
CSRF_COOKIE = "pycluster-csrf"
CSRF_HEADER = "X-CSRF-Token"
TICKET_TTL = 30  # seconds a stream ticket stays usable (once)
_MAX_TICKETS = 10_000
_STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_PROXY_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")
_BROWSER_HEADERS = ("origin", "sec-fetch-site", "sec-fetch-mode")
NEEDS_TOKEN = "this cluster needs an API token: send 'Authorization: Bearer <token>'"

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="API token",
    description="The head's API token (printed by the head, stored in its state directory).",
)


@functools.lru_cache(maxsize=16)  # the same few values on every request: computed once
def _hmac(token: str, label: bytes) -> str:
    return hmac.new(token.encode(), label, hashlib.sha256).hexdigest()


def session_value(token: str) -> str:
    """The session cookie's value: proves the browser was given the token, without being it."""
    return _hmac(token, b"pycluster dashboard session v1")


def csrf_value(token: str) -> str:
    """The CSRF cookie's value (readable by the page, which echoes it in ``X-CSRF-Token``)."""
    return _hmac(token, b"pycluster dashboard csrf v1")


def token_matches(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def cookie_name(request: Request, base: str) -> str:
    """``base-<port>``, the port the browser sees (Host's, or the scheme's default): cookies do
    not tell ports apart, so two heads on one host would otherwise sign each other out."""
    host = request.headers.get("host", "")
    port = host.rsplit(":", 1)[1] if ":" in host and not host.endswith("]") else ""
    if not port.isdigit():
        port = "443" if request.url.scheme == "https" else "80"
    return f"{base}-{port}"


def unauthorized(detail: str = NEEDS_TOKEN) -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


def _host_is_loopback(request: Request) -> bool:
    return is_loopback_name(split_host(request.headers.get("host", ""))[0])


def local_peer_trusted(request: Request) -> bool:
    """Is this the head's own OS user, directly on loopback, and not a browser or a proxy?"""
    cached = getattr(request.state, "local_peer", None)
    if cached is not None:
        return bool(cached)
    trusted = False
    headers = request.headers
    client, server = request.scope.get("client"), request.scope.get("server")
    if (
        client
        and server
        and not any(name in headers for name in _PROXY_HEADERS)
        and not any(name in headers for name in _BROWSER_HEADERS)
        and is_loopback_ip(str(client[0]))
        and is_loopback_ip(str(server[0]))
        and _host_is_loopback(request)
    ):
        creds: PeerCredentials | None = getattr(request.app.state, "peer_credentials", None)
        if creds is None:
            creds = request.app.state.peer_credentials = PeerCredentials()
        trusted = creds.same_user((str(client[0]), int(client[1])), (str(server[0]), int(server[1])))
    request.state.local_peer = trusted
    return trusted


def _session_cookie_ok(request: Request, expected: str) -> bool:
    return token_matches(request.cookies.get(cookie_name(request, SESSION_COOKIE)), session_value(expected))


async def require_token(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(bearer_scheme)
) -> None:
    """FastAPI dependency: the request must carry the Bearer token, the session cookie (plus
    ``X-CSRF-Token`` on state changes), or come from the head's own user on loopback.
    (``credentials`` is declared so the schema names the scheme; ``check_credentials`` reads
    the header itself, the same way, so the body guard can run it before any body is read.)"""
    check_credentials(request)


def check_credentials(request: Request) -> None:
    """What ``require_token`` checks, from the headers and the connection alone: an
    HTTPException (401, or 403 for a missing CSRF header) when the request may not proceed."""
    expected: str | None = request.app.state.api_token
    if not expected:
        return
    authorization = request.headers.get("authorization")
    if authorization:
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token_matches(given, expected):
            raise unauthorized()
        return
    if _session_cookie_ok(request, expected):
        if request.method in _STATE_CHANGING:
            csrf = request.cookies.get(cookie_name(request, CSRF_COOKIE))
            header = request.headers.get(CSRF_HEADER)
            if header is None or not (
                token_matches(header, csrf_value(expected)) and token_matches(csrf, header)
            ):
                raise HTTPException(
                    status_code=status.HTTP_403_FORBIDDEN,
                    detail=(
                        f"a {request.method} signed in by cookie needs the {CSRF_HEADER} header, "
                        f"equal to the {cookie_name(request, CSRF_COOKIE)} cookie (CSRF protection)"
                    ),
                )
        return
    if local_peer_trusted(request):
        return
    raise unauthorized()


def issue_ticket(request: Request) -> str:
    """A single-use ticket for ``/api/dashboard/stream?ticket=``, valid ``TICKET_TTL`` seconds."""
    tickets: dict[str, float] = _tickets(request)
    now = time.monotonic()
    if len(tickets) >= _MAX_TICKETS:
        for ticket, expires in list(tickets.items()):
            if expires <= now:
                del tickets[ticket]
        if len(tickets) >= _MAX_TICKETS:
            tickets.pop(next(iter(tickets)))  # the oldest
    ticket = secrets.token_urlsafe(32)
    tickets[ticket] = now + TICKET_TTL
    return ticket


def _tickets(request: Request) -> dict[str, float]:
    state = request.app.state
    if getattr(state, "stream_tickets", None) is None:
        state.stream_tickets = {}
    tickets: dict[str, float] = state.stream_tickets
    return tickets


def _redeem_ticket(request: Request, ticket: str) -> bool:
    expires = _tickets(request).pop(ticket, None)
    return expires is not None and expires > time.monotonic()


async def require_stream_token(request: Request) -> None:
    """For the dashboard's event stream: EventSource cannot send headers, so besides what
    ``require_token`` takes (a GET needs no CSRF header) it takes ``?ticket=`` from
    ``POST /api/auth/ticket``, once. The token itself is never taken in the URL (proxies log URLs)."""
    expected: str | None = request.app.state.api_token
    if "token" in request.query_params:
        raise unauthorized(
            "the stream no longer takes ?token= (URLs end up in logs): sign in (cookie), send "
            "'Authorization: Bearer <token>', or get a one-time ticket from POST /api/auth/ticket "
            "and pass ?ticket=<ticket>"
        )
    ticket = request.query_params.get("ticket")
    if ticket is not None:
        if not expected or _redeem_ticket(request, ticket):
            return
        raise unauthorized(
            "that stream ticket is unknown, used or expired: get a new one from POST /api/auth/ticket"
        )
    if not expected:
        return
    scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
    if scheme:
        if scheme.lower() == "bearer" and token_matches(bearer, expected):
            return
        raise unauthorized()
    if _session_cookie_ok(request, expected) or local_peer_trusted(request):
        return
    raise unauthorized(
        "this cluster needs an API token: sign in, send 'Authorization: Bearer <token>', or pass a "
        "one-time ?ticket= from POST /api/auth/ticket"
    )


def ensure_token(settings: Settings, state_dir: Path, announce: Callable[[str], None] | None = None) -> str:
    """The API token to require: every head has one. When none is configured, one is
    generated once, stored user-only in the state directory and reused.

    On loopback the same OS user's own programs are let in without it (see
    :mod:`pycluster.web.auth`); everyone else, and every request from the network, needs it.
    A head open to the network announces a generated token (the value only on a terminal).
    ``api_token_file`` (``--api-token-file``) names a user-only file holding the token.
    """
    c = settings.cluster
    if c.api_token:
        return c.api_token
    if c.api_token_file:
        # the file must be the user's alone, as ssh wants of a key: refused otherwise, with the fix
        c.api_token = read_secret(Path(c.api_token_file).expanduser())
        return c.api_token
    say = announce or (lambda text: print(text, file=sys.stderr, flush=True))
    path = state_dir / "api_token"
    make = functools.partial(secrets.token_urlsafe, 24)
    c.api_token, announced = head_secret(path, make, "API token", c.host, say)
    if not announced:
        return c.api_token
    say("Send it as 'Authorization: Bearer <token>', or set PYCLUSTER_API_TOKEN to choose your own.")
    return c.api_token

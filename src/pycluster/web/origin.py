"""Host and Origin checks on every request, before authentication.

- DNS rebinding: a page on ``evil.example`` whose name the attacker re-points at 127.0.0.1
  talks to a loopback head from the victim's browser, with ``Host: evil.example``. So while the
  server is bound to loopback, ``Host`` must name a loopback host (``localhost``, 127.x.x.x,
  ``[::1]``, with any port). Bound to a network address, any Host is accepted: the token is
  needed from there anyway (and the same-user loopback trust requires a loopback Host too).
- Cross-site requests: when ``Origin`` is sent it must be the request's own origin
  (scheme://host:port), and ``Sec-Fetch-Site: cross-site`` is refused on POST, PUT, PATCH and
  DELETE, so a page elsewhere cannot fire body-less POSTs such as ``/cluster/stop``.

``allowed_hosts`` and ``allowed_origins`` add names for a reverse proxy in front of a
loopback head (``Host: cluster.example.org``, ``Origin: https://cluster.example.org``).
``cors_origins`` are other sites whose pages may call the API (``cors.py``): their requests are
cross-site by nature, so the Sec-Fetch-Site refusal does not apply to them; they need the token.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from .peercred import is_loopback_ip

__all__ = ["HostOriginGuard", "is_loopback_name", "split_host"]

_STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def split_host(host: str) -> tuple[str, int | None]:
    """``"[::1]:8787"`` -> ``("::1", 8787)``; ``"Localhost."`` -> ``("localhost", None)``.
    A malformed value gives ``("", None)``."""
    host = host.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        if end < 0:
            return "", None
        name, rest = host[1:end], host[end + 1 :]
        if rest and not rest.startswith(":"):
            return "", None
        port_text = rest[1:]
    elif host.count(":") > 1:
        return "", None  # a bare IPv6 address must be in brackets
    else:
        name, _, port_text = host.partition(":")
    if port_text and not (port_text.isdigit() and int(port_text) < 65536):
        return "", None
    return name.rstrip("."), int(port_text) if port_text else None


def is_loopback_name(name: str) -> bool:
    """``localhost`` or a loopback IP (as :func:`split_host` gives a Host header's name)."""
    return name == "localhost" or is_loopback_ip(name)


class HostOriginGuard:
    """Pure ASGI middleware: 403 with a reason for a foreign Host (loopback servers) or Origin."""

    def __init__(
        self,
        app: Any,
        bind_host: str | None,
        allowed_hosts: Iterable[str] = (),
        allowed_origins: Iterable[str] = (),
        cors_origins: Iterable[str] = (),
    ) -> None:
        self.app = app
        # None: not known (an app built without settings); decide per connection instead
        self.loopback_only = (
            None if bind_host is None else is_loopback_name(split_host(bind_host)[0] or bind_host)
        )
        self.allowed_hosts = {split_host(h)[0] for h in allowed_hosts}
        self.allowed_origins = {o.rstrip("/").lower() for o in allowed_origins}
        self.cors_origins = {o.rstrip("/").lower() for o in cors_origins}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = self.problem(scope)
        if problem is None:
            await self.app(scope, receive, send)
            return
        body = json.dumps({"detail": problem}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 403,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def problem(self, scope: dict[str, Any]) -> str | None:
        headers: dict[str, str] = {}
        for key, value in scope.get("headers", []):
            name = key.decode("latin-1").lower()
            if name in headers:  # two Hosts or two Origins: refuse rather than guess which counts
                if name in {"host", "origin"}:
                    return f"the request has more than one {name.title()} header"
                continue
            headers[name] = value.decode("latin-1")
        host = headers.get("host", "")
        name, _port = split_host(host)
        if not name:
            return f"the Host header {host!r} is missing or malformed"
        loopback_only = self.loopback_only
        if loopback_only is None:
            server = scope.get("server")
            loopback_only = server is not None and is_loopback_ip(str(server[0]))
        if loopback_only and not is_loopback_name(name) and name not in self.allowed_hosts:
            return (
                f"this head listens on loopback only, so the Host header must name a loopback host "
                f"(localhost, 127.0.0.1, [::1]), not {host!r}: a foreign name here is how DNS "
                "rebinding attacks look"
            )
        origin = headers.get("origin")
        cross_origin_allowed = origin is not None and origin.rstrip("/").lower() in self.cors_origins
        if origin is not None and not cross_origin_allowed:
            scheme = str(scope.get("scheme", "http"))
            allowed = origin.rstrip("/").lower() in self.allowed_origins
            if not allowed and not self._same_origin(origin, scheme, host):
                return (
                    f"cross-origin request refused: Origin {origin!r} is not this server ({scheme}://{host})"
                )
        method = str(scope.get("method", "GET")).upper()
        cross_site = headers.get("sec-fetch-site", "").lower() == "cross-site"
        if method in _STATE_CHANGING and cross_site and not cross_origin_allowed:
            return f"cross-site {method} refused (Sec-Fetch-Site: cross-site)"
        return None

    @staticmethod
    def _same_origin(origin: str, scheme: str, host: str) -> bool:
        origin = origin.strip().lower()
        their_scheme, sep, their_host = origin.partition("://")
        if not sep or "/" in their_host:
            return False  # "null", or not an origin at all
        our_name, our_port = split_host(host)
        their_name, their_port = split_host(their_host)
        if not their_name or their_scheme != scheme.lower():
            return False
        default = _DEFAULT_PORTS.get(scheme.lower())
        return their_name == our_name and (their_port or default) == (our_port or default)

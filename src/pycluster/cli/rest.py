"""What CLI groups that drive a running head over REST share: --url/--api-token and one call."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NoReturn, TypeVar

import click

from ..config import Settings
from .output import fail

__all__ = ["api_token_option", "call", "head_options", "remember_head", "stream_lines", "url_option"]

F = TypeVar("F", bound=Callable[..., Any])


URL_HELP = "The head's dashboard/API URL.  [default: http://127.0.0.1:8787, or the configured port]"
TOKEN_HELP = "Bearer token, when the head needs one."


def url_option(command: F) -> F:
    """``--url``, read from ``PYCLUSTER_URL`` too: set it once per shell for every client command."""
    return click.option("--url", envvar="PYCLUSTER_URL", show_envvar=True, help=URL_HELP)(command)


def api_token_option(command: F) -> F:
    """``--api-token``, read from ``PYCLUSTER_API_TOKEN`` too (the variable the head reads)."""
    return click.option("--api-token", envvar="PYCLUSTER_API_TOKEN", show_envvar=True, help=TOKEN_HELP)(
        command
    )


def head_options(group: F) -> F:
    """--url and --api-token on a click group; the context then carries both for ``call``."""
    return url_option(api_token_option(group))


def remember_head(ctx: click.Context, url: str | None, api_token: str | None) -> None:
    port = Settings.load().cluster.dashboard_port
    ctx.obj = {"url": (url or f"http://127.0.0.1:{port}").rstrip("/"), "token": api_token}


def call(
    ctx: click.Context, method: str, path: str, timeout: float = 120, missing_ok: bool = False, **kwargs: Any
) -> Any:
    """``method path`` on the head; exits with the head's own reason on any 4xx/5xx (but answers
    None for a 404 with ``missing_ok``: a route an older head does not have)."""
    import httpx

    try:
        response = httpx.request(method, _url(ctx, path), headers=_headers(ctx), timeout=timeout, **kwargs)
    except httpx.HTTPError as exc:
        _unreachable(ctx, exc)
    if missing_ok and response.status_code == 404:
        return None
    _raise_for(response)
    return response.json()


def stream_lines(
    ctx: click.Context, method: str, path: str, timeout: float = 600, **kwargs: Any
) -> Iterator[str]:
    """The ``data:`` payloads of a server-sent-events answer, as they arrive."""
    import httpx

    try:
        with httpx.stream(
            method, _url(ctx, path), headers=_headers(ctx), timeout=timeout, **kwargs
        ) as response:
            if response.status_code >= 400:
                response.read()
                _raise_for(response)
            for line in response.iter_lines():
                if line.startswith("data: "):
                    yield line[len("data: ") :]
    except httpx.HTTPError as exc:
        _unreachable(ctx, exc)


def _url(ctx: click.Context, path: str) -> str:
    return f"{ctx.obj['url']}{path}"


def _headers(ctx: click.Context) -> dict[str, str]:
    token = ctx.obj["token"]
    return {"Authorization": f"Bearer {token}"} if token else {}


def _unreachable(ctx: click.Context, exc: Exception) -> NoReturn:
    if "CERTIFICATE_VERIFY_FAILED" in str(exc):  # an HTTPS head whose certificate we do not trust
        fail(
            f"the head at {ctx.obj['url']} has a certificate this machine does not trust ({exc}); "
            "point SSL_CERT_FILE at it (or at its CA), e.g. SSL_CERT_FILE=web.crt"
        )
    fail(f"cannot reach the head at {ctx.obj['url']} ({exc}); is it running? pass --url http://HEAD:8787")


def _raise_for(response: Any) -> None:
    if response.status_code < 400:
        return
    try:
        detail = response.json().get("detail")
    except ValueError:
        detail = response.text
    if isinstance(detail, list):  # FastAPI's validation errors: name the field and the problem
        detail = "; ".join(f"{'.'.join(map(str, d.get('loc', [])[1:]))}: {d.get('msg')}" for d in detail)
    fail(f"{detail} (HTTP {response.status_code})")

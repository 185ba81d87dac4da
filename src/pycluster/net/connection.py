"""Can this machine join that cluster? TCP, a Dask handshake and the dashboard, each timed.

>>> result = test_connection("tcp://192.168.1.100:8786")  # doctest: +SKIP
>>> result["scheduler_reachable"], result["dashboard_reachable"], result["can_connect"]  # doctest: +SKIP
(True, True, True)
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from typing import Any

import httpx

from ..cluster.local_heads import key_for
from ..cluster.loop import run_sync
from ..cluster.ports import normalize_scheduler_address, split_address, wait_until_reachable
from ..cluster.security import scheduler_security, tls_address
from ..errors import AuthenticationError, ConfigError, SchedulerUnreachableError
from .discovery import DEFAULT_DISCOVERY_PORT, probe_head

__all__ = ["test_connection"]


def test_connection(
    scheduler_address: str,
    dashboard_url: str | None = None,
    timeout: float = 5.0,
    discovery_port: int | None = DEFAULT_DISCOVERY_PORT,
    auth_key: str | None = None,
) -> dict[str, Any]:
    """Check a cluster from here and say what works.

    Returns ``scheduler_reachable`` (a TCP connection opens), ``can_connect`` (the
    Dask scheduler answers a handshake), ``dashboard_reachable`` (the web app
    answers HTTP), ``latency_ms``, ``dashboard_latency_ms``, ``n_workers``,
    ``dashboard_url`` and ``errors`` (what failed and what to try). The dashboard
    URL, when not given, is asked from the head's discovery responder, else
    guessed as the port after the scheduler's (8787 for 8786). A head with a cluster key
    (TLS) needs ``auth_key`` (default: ``PYCLUSTER_AUTH_KEY``, else the key of this user's
    own head at that address on this machine) for the handshake.
    """
    address = _checked_address(scheduler_address)
    key = auth_key or os.environ.get("PYCLUSTER_AUTH_KEY") or key_for(address)
    if key:
        address = tls_address(address)
    result: dict[str, Any] = {
        "scheduler_address": address,
        "scheduler_reachable": False,
        "can_connect": False,
        "dashboard_reachable": False,
        "latency_ms": None,
        "dashboard_latency_ms": None,
        "n_workers": None,
        "errors": [],
    }
    _check_scheduler(result, address, timeout, key)
    result["dashboard_url"] = dashboard_url or _find_dashboard(address, discovery_port)
    _check_dashboard(result, result["dashboard_url"], timeout)
    return result


# pytest would collect a module-level test_* function imported into a test file
test_connection.__test__ = False  # type: ignore[attr-defined]


def _checked_address(address: str) -> str:
    try:
        return normalize_scheduler_address(address)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _check_scheduler(result: dict[str, Any], address: str, timeout: float, key: str | None) -> None:
    try:
        latency = wait_until_reachable(address, timeout)
    except SchedulerUnreachableError as exc:
        result["errors"].append(str(exc))
        return
    result["scheduler_reachable"] = True
    result["latency_ms"] = round(latency * 1000, 2)
    try:
        security = scheduler_security(address, key)
        identity = run_sync(asyncio.wait_for(_identity(address, security), timeout))
    except AuthenticationError as exc:
        result["errors"].append(str(exc))
        return
    except Exception as exc:
        result["errors"].append(
            f"a TCP connection to {address} opens, but no Dask scheduler answered ({exc!r}). "
            "Is something else listening on that port?"
        )
        return
    result["can_connect"] = True
    result["n_workers"] = len(identity.get("workers", {}))


async def _identity(address: str, security: Any) -> dict[str, Any]:
    from distributed.core import rpc

    connection_args = security.get_connection_args("client") if security is not None else {}
    async with rpc(address, connection_args=connection_args) as scheduler:
        return await scheduler.identity()


def _find_dashboard(address: str, discovery_port: int | None) -> str:
    host, port = split_address(address)
    ip = _ip_of(host)
    if discovery_port and ip:
        announced = probe_head(ip, discovery_port, timeout=0.5)
        if announced and announced.get("dashboard_url"):
            return str(announced["dashboard_url"])
    url_host = f"[{host}]" if ":" in host else host
    return f"http://{url_host}:{port + 1}"


def _ip_of(host: str) -> str | None:
    try:
        return str(socket.getaddrinfo(host, None, type=socket.SOCK_DGRAM)[0][4][0])
    except OSError:
        return None


def _check_dashboard(result: dict[str, Any], url: str, timeout: float) -> None:
    started = time.monotonic()
    try:
        # the landing page needs no API key, so this works on a head that has one
        httpx.get(url, timeout=timeout, follow_redirects=True)
    except httpx.HTTPError as exc:
        result["errors"].append(
            f"the dashboard at {url} did not answer ({exc.__class__.__name__}: {exc}). "
            "Check the dashboard port (default 8787) and the firewall, or pass dashboard_url."
        )
        return
    result["dashboard_reachable"] = True
    result["dashboard_latency_ms"] = round((time.monotonic() - started) * 1000, 2)

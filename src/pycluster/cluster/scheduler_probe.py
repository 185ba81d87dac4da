"""Is there a Dask scheduler at this address? A handshake with a deadline, and a diagnosis.

A TCP connect proves only that something listens. A silent port, or the head's own
dashboard (an HTTP server) given by mistake, accepts the connection and then never
completes Dask's handshake; Dask's own connect then waits its full connect timeout
(30 s) several times over. :func:`await_scheduler` completes the handshake within the
caller's timeout, and when it cannot, :func:`diagnose_port` says what answers there.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from ..errors import SchedulerUnreachableError
from .ports import split_address

__all__ = ["DEFAULT_SCHEDULER_PORT", "HTTP_PORT_HINT", "await_scheduler", "diagnose_port"]

DEFAULT_SCHEDULER_PORT = 8786
HTTP_PORT_HINT = (
    f"this is an HTTP port (the dashboard?), not the scheduler; the scheduler is usually on "
    f"{DEFAULT_SCHEDULER_PORT} (the head prints its scheduler address when it starts)"
)
# How long the diagnosis waits for an answer to its HTTP request: an HTTP server answers
# a bad or unknown request at once, so a second is plenty even across a slow network
_DIAGNOSIS_WAIT = 1.0


async def await_scheduler(address: str, security: Any, timeout: float, budget: float | None = None) -> None:
    """Complete Dask's handshake with the scheduler at ``address`` within ``timeout`` seconds.

    Raises :class:`SchedulerUnreachableError` naming the address and, when something else
    answers there, the likely mistake (see :func:`diagnose_port`); ``budget`` is the
    timeout the user gave, which the message names (``timeout`` may be what is left of it).
    """
    from distributed.comm import connect

    args = security.get_connection_args("worker") if security is not None else {}
    try:
        # Dask's connect retries refused and failed handshakes with backoff until the timeout,
        # and bounds the handshake itself by what is left of it
        comm = await asyncio.wait_for(connect(address, timeout=timeout, **args), timeout + 1.0)
    except (OSError, asyncio.TimeoutError, MemoryError, ValueError) as exc:
        cause = exc.__cause__ or exc
        # Dask's own "Timed out trying to connect" adds nothing to ours; a refusal or a TLS error does
        detail = "" if isinstance(cause, (TimeoutError, asyncio.TimeoutError)) else f" ({cause})"
        if isinstance(exc, (MemoryError, ValueError)):
            # another protocol's answer (an HTTP server's "400 Bad Request" to the handshake, as
            # httptools sends at once) read as a Dask frame: its first bytes taken for a length
            detail = " (what answered does not speak Dask's protocol)"
        hint = await asyncio.to_thread(diagnose_port, address)
        raise SchedulerUnreachableError(
            f"no Dask scheduler answered at {address} within {budget or timeout:g}s{detail}: {hint}"
        ) from None
    await comm.close()


def diagnose_port(address: str) -> str:
    """What listens at ``address``, in words, for an error message (sends one HTTP request)."""
    host, port = split_address(address)
    try:
        sock = socket.create_connection((host, port), timeout=_DIAGNOSIS_WAIT)
    except OSError as exc:
        return (
            f"nothing accepts connections on {host}:{port} ({exc}). Check that the head node is "
            "running, the address and port are right, and no firewall blocks the port"
        )
    with sock:
        try:
            sock.sendall(f"GET / HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
            sock.settimeout(_DIAGNOSIS_WAIT)
            answer = sock.recv(64)
        except OSError:
            answer = b""
    if answer.startswith(b"HTTP/"):
        return HTTP_PORT_HINT
    if not answer:
        return (
            f"{host}:{port} accepts connections but never answers: it is not a Dask scheduler "
            f"(wrong port? the scheduler is usually on {DEFAULT_SCHEDULER_PORT})"
        )
    return (
        f"{host}:{port} answers, but did not complete a Dask handshake with this node: a different "
        "program, or a head with another cluster key (pass the head's --auth-key / PYCLUSTER_AUTH_KEY)"
    )

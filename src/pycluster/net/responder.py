"""The head's discovery responder: answers probes on UDP (8788 by default).

It runs as an asyncio ``DatagramProtocol`` on the head's own event loop. A head
bound to one address listens on that address and, on Linux and macOS, on its
interface's broadcast address too (a socket bound to a unicast address does not
see broadcasts there); answers always leave from the unicast socket. A head bound
to all interfaces (0.0.0.0) listens on the wildcard address, which sees both.

A head with a cluster key (``head.auth_key``) signs every answer with a key derived
from it (see :mod:`pycluster.net.protocol`), so a prober holding the key can tell it
from anyone else on the network answering the same probe; a head without one sends
unsigned answers, which a prober never treats as verified.

>>> head = HeadNode(services=("discovery",)); head.start()  # doctest: +SKIP
>>> head.services["discovery"].port  # doctest: +SKIP
8788
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import socket
from collections.abc import Callable
from types import EllipsisType
from typing import Any

from .. import __version__
from ..cluster.services import HeadContext, HeadService
from ..errors import PortInUseError
from .interfaces import interface_broadcast
from .ports import find_free_udp_ports
from .protocol import decode_probe, discovery_key, encode_announce

__all__ = ["DiscoveryResponder", "DiscoveryService", "start_discovery_responder"]

logger = logging.getLogger(__name__)

_WILDCARDS = {"", "0.0.0.0", "::"}


class _ProbeProtocol(asyncio.DatagramProtocol):
    """Hands each datagram to the responder; whatever it is, the transport stays up."""

    def __init__(self, responder: DiscoveryResponder) -> None:
        self.responder = responder

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        try:
            self.responder.answer(data, addr)
        except Exception:  # a bad datagram must never take the responder down
            logger.debug("discovery: ignored a datagram from %s", addr, exc_info=True)

    def error_received(self, exc: Exception) -> None:
        # e.g. ICMP port unreachable from a prober that already left: nothing to do
        logger.debug("discovery: socket error %s", exc)


class DiscoveryResponder:
    """Answers discovery probes with what ``describe()`` returns (the head's connection info).

    ``requires_key``: the scheduler needs the cluster key (TLS); ``requires_token``: the
    web API needs an API token; ``key``: a :func:`~pycluster.net.protocol.discovery_key`
    that signs every answer (None: answers are unsigned and never verify).
    """

    def __init__(
        self,
        describe: Callable[[], dict[str, Any]],
        requires_key: bool,
        requires_token: bool = False,
        key: bytes | None = None,
    ) -> None:
        self._describe = describe
        self._requires_key = requires_key
        self._requires_token = requires_token
        self._key = key
        self._transports: list[asyncio.DatagramTransport] = []
        self.port: int | None = None
        self.answered = 0

    async def start(self, host: str, port: int) -> DiscoveryResponder:
        """Bind ``host:port`` (0 picks a free port) and the broadcast address that goes with it."""
        ip = _resolve(host)
        unicast = _bind_udp(ip, port, reuse=False)
        self.port = unicast.getsockname()[1]
        try:
            await self._serve(unicast)
        except BaseException:
            unicast.close()
            raise
        broadcast = _broadcast_for(ip)
        if broadcast is not None:
            try:
                # several heads on one subnet may share the broadcast address and port
                await self._serve(_bind_udp(broadcast, self.port, reuse=True))
            except (OSError, PortInUseError) as exc:
                logger.warning("discovery: not listening on broadcast %s:%s (%s)", broadcast, self.port, exc)
        return self

    async def _serve(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: _ProbeProtocol(self), sock=sock)
        self._transports.append(transport)

    def answer(self, data: bytes, addr: tuple[Any, ...]) -> None:
        nonce = decode_probe(data)
        if nonce is None or not self._transports:
            return
        info = {
            **self._describe(),
            "requires_key": self._requires_key,
            "requires_token": self._requires_token,
            "version": __version__,
            "discovery_port": self.port,
        }
        # answer from the unicast socket: a reply from a broadcast-bound socket has no usable source
        self._transports[0].sendto(encode_announce(info, nonce, key=self._key), addr)
        self.answered += 1

    def close(self) -> None:
        for transport in self._transports:
            transport.close()
        self._transports.clear()


class DiscoveryService(HeadService):
    """Head service "discovery": answers probes on the head's loop unless its discovery port
    is None; ``port`` is where it listens (None when off)."""

    name = "discovery"

    def __init__(self) -> None:
        self._responder: DiscoveryResponder | None = None
        self.port: int | None = None

    async def start(self, ctx: HeadContext) -> None:
        if ctx.settings.cluster.discovery_port is None:
            return
        # a chosen key costs one scrypt (~0.5 s): in a thread, not on the head's loop
        key = await asyncio.to_thread(_signing_key, ctx.head)
        self._responder = await asyncio.wait_for(start_discovery_responder(ctx.head, key), 30)
        self.port = self._responder.port

    async def stop(self) -> None:
        responder, self._responder = self._responder, None
        if responder is not None:
            responder.close()  # on the head's loop, which its transports belong to


async def start_discovery_responder(head: Any, key: bytes | EllipsisType | None = ...) -> DiscoveryResponder:
    """Start answering probes for a running :class:`~pycluster.HeadNode` on its host and discovery port.

    Answers are signed with a key derived from ``head.auth_key`` (``key``, when given,
    is that derived key already; None: unsigned).
    """
    cluster = head.settings.cluster
    responder = DiscoveryResponder(
        lambda: _describe(head),
        requires_key=head.auth_key is not None,
        requires_token=bool(cluster.api_token),
        key=_signing_key(head) if key is ... else key,
    )
    return await responder.start(cluster.host, cluster.discovery_port)


def _signing_key(head: Any) -> bytes | None:
    auth_key = head.auth_key
    if not auth_key:
        logger.debug("discovery: head %r has no cluster key; its answers are not signed", head.cluster_name)
        return None
    return discovery_key(auth_key)


def _describe(head: Any) -> dict[str, Any]:
    info = head.get_connection_info()
    cluster = head.settings.cluster
    scheduler_port = int(str(info["scheduler_address"]).rsplit(":", 1)[1])
    dashboard_url = info.get("dashboard_url")
    dashboard_port = int(dashboard_url.rsplit(":", 1)[1]) if dashboard_url else None
    return {
        "cluster_name": info["cluster_name"],
        "scheduler_address": info["scheduler_address"],
        "dashboard_url": dashboard_url,
        # the bound host: a prober rewrites a wildcard to the address the answer came from
        "host": cluster.host,
        "scheduler_port": scheduler_port,
        "dashboard_port": dashboard_port,
    }


def _resolve(host: str) -> str:
    if host in _WILDCARDS:
        return "::" if host == "::" else "0.0.0.0"
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_DGRAM)[0][4][0]  # type: ignore[return-value]


def _bind_udp(ip: str, port: int, reuse: bool) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_DGRAM)
    if reuse:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if hasattr(socket, "SO_REUSEPORT"):  # BSD/macOS need it to share a port
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((ip, port))
    except OSError:
        sock.close()
        raise PortInUseError(port, ip, "discovery (UDP)", find_free_udp_ports(ip, port + 1)) from None
    sock.setblocking(False)
    return sock


def _broadcast_for(ip: str) -> str | None:
    # Windows delivers a subnet's broadcasts to sockets bound to a unicast address there,
    # and refuses to bind a broadcast address; wildcards and loopback see what they need
    if os.name == "nt" or ip in _WILDCARDS or ":" in ip or ipaddress.ip_address(ip).is_loopback:
        return None
    return interface_broadcast(ip)

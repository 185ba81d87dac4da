"""Checks on ports and scheduler addresses, with errors that say what to do."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import time

from ..errors import PortInUseError, SchedulerUnreachableError

__all__ = [
    "advertised_host",
    "bind_listening_socket",
    "check_port_free",
    "find_free_ports",
    "join_address",
    "normalize_scheduler_address",
    "split_address",
    "wait_until_reachable",
]


def _tcp_socket(host: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    if os.name != "nt":
        # what servers do, so a port in TIME_WAIT is not reported as taken (on Windows
        # SO_REUSEADDR would let two servers share a port, so it stays off there)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    return sock


def _can_bind(host: str, port: int) -> bool:
    with _tcp_socket(host) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def bind_listening_socket(host: str, port: int, what: str) -> socket.socket:
    """A non-blocking listening TCP socket on ``host:port``, or :class:`PortInUseError`."""
    sock = _tcp_socket(host)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise PortInUseError(port, host, what, find_free_ports(host, port + 1)) from None
    with contextlib.suppress(OSError):
        # accepted connections inherit it: without it an HTTP response's headers and body (two
        # writes) meet Nagle + delayed ACK and every keep-alive request waits ~40 ms
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.listen(128)
    sock.setblocking(False)
    return sock


def find_free_ports(host: str, start: int, count: int = 3, limit: int = 200) -> list[int]:
    """Up to ``count`` ports from ``start`` upward that can be bound on ``host`` now."""
    found: list[int] = []
    for port in range(max(start, 1), min(start + limit, 65536)):
        if _can_bind(host, port):
            found.append(port)
            if len(found) == count:
                break
    return found


def check_port_free(host: str, port: int, what: str) -> None:
    """Raise :class:`PortInUseError` when ``port`` (non-zero) cannot be bound on ``host``."""
    if port == 0 or _can_bind(host, port):
        return
    raise PortInUseError(port, host, what, find_free_ports(host, port + 1))


def normalize_scheduler_address(address: str) -> str:
    """``host:port`` or ``tcp://host:port`` -> ``tcp://host:port`` (8786 when no port)."""
    if not isinstance(address, str) or not address.strip():
        raise ValueError(f"scheduler address {address!r} is empty; expected tcp://HOST:8786")
    text = address.strip()
    scheme = "tcp"
    if "://" in text:
        scheme, _, text = text.partition("://")
    if scheme not in {"tcp", "tls"}:
        raise ValueError(f"scheduler address {address!r} has scheme {scheme!r}; use tcp:// or tls://")
    host, port = split_address(text if ":" in text.strip("[]") else f"{text}:8786")
    return f"{scheme}://{host}:{port}"


def split_address(address: str) -> tuple[str, int]:
    """``tcp://host:port`` or ``host:port`` -> (host, port)."""
    text = address.split("://", 1)[-1]
    host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"address {address!r} is not HOST:PORT (for example tcp://10.0.0.5:8786)")
    return host.strip("[]"), int(port_text)


def wait_until_reachable(address: str, timeout: float) -> float:
    """Open a TCP connection to ``address`` within ``timeout``; return the latency in seconds."""
    host, port = split_address(address)
    deadline = time.monotonic() + timeout
    last_error: OSError | None = None
    while True:
        started = time.monotonic()
        remaining = deadline - started
        if remaining <= 0:
            break
        try:
            with socket.create_connection((host, port), timeout=min(remaining, 2.0)):
                return time.monotonic() - started
        except OSError as exc:
            last_error = exc
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
    raise SchedulerUnreachableError(
        f"scheduler at {address} did not answer within {timeout:g}s ({last_error}). "
        "Check that the head node is running, the address and port are right, "
        "and no firewall blocks the port (try: pycluster test-connection ADDRESS)."
    )


def advertised_host(host: str) -> str:
    """The host name others should use to reach a server bound on ``host``.

    For every interface (0.0.0.0): the address of the default route's interface, as Dask
    picks it; on a machine with no default route (a LAN without a gateway, a container
    network) Dask falls back to 127.0.0.1, so then the first address of an interface that
    is up, and loopback only when there is no other.
    """
    if host in {"0.0.0.0", "::", ""}:
        from distributed.utils import get_ip

        ip = str(get_ip())
        return ip if not is_loopback(ip) else (_interface_address() or ip)
    return host


def join_address(address: str, listen_host: str) -> str:
    """``address`` as a worker on another machine should be told it: a scheduler that listens
    on the network but reports a loopback address gets this machine's routable address."""
    scheme = address.partition("://")[0] if "://" in address else ""
    host, port = split_address(address)
    if not is_loopback(host) or is_loopback(listen_host):
        return address
    routable = advertised_host("0.0.0.0")
    if is_loopback(routable):  # no interface but loopback: say so rather than print a wrong one
        routable = "<this machine's address>"
    prefix = f"{scheme}://" if scheme else ""
    return f"{prefix}{f'[{routable}]' if ':' in routable else routable}:{port}"


def _interface_address() -> str | None:
    """The first IPv4 address of an interface that is up, other than loopback and link-local."""
    import psutil

    stats = psutil.net_if_stats()
    for name, addresses in psutil.net_if_addrs().items():
        if name in stats and not stats[name].isup:
            continue
        for a in addresses:
            if (
                a.family == socket.AF_INET
                and not is_loopback(a.address)
                and not a.address.startswith("169.254.")
            ):
                return str(a.address)
    return None


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``; False for 0.0.0.0, names and LAN addresses."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False

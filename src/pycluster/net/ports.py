"""Free ports for a new head: TCP for scheduler and dashboards, UDP for discovery.

TCP checks reuse :mod:`pycluster.cluster.ports`; UDP needs its own bind test.

>>> ports = get_recommended_ports(start_port=8786)  # doctest: +SKIP
>>> ports  # doctest: +SKIP
{'scheduler_port': 8786, 'dashboard_port': 8787, 'discovery_port': 8788, 'dask_dashboard_port': 8789}
"""

from __future__ import annotations

import socket

from ..cluster.ports import find_free_ports
from ..errors import ConfigError, PortInUseError

__all__ = ["find_free_udp_ports", "get_recommended_ports", "udp_port_free"]

# the order a head's ports are laid out in, from start_port upward (as the defaults are)
_LAYOUT = (
    ("scheduler_port", "tcp"),
    ("dashboard_port", "tcp"),
    ("discovery_port", "udp"),
    ("dask_dashboard_port", "tcp"),
)
_SEARCH_LIMIT = 200


def udp_port_free(host: str, port: int) -> bool:
    """Whether a UDP socket can bind ``host:port`` now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def find_free_udp_ports(host: str, start: int, count: int = 3, limit: int = _SEARCH_LIMIT) -> list[int]:
    """Up to ``count`` UDP ports from ``start`` upward that can be bound on ``host`` now."""
    found: list[int] = []
    for port in range(max(start, 1), min(start + limit, 65536)):
        if udp_port_free(host, port):
            found.append(port)
            if len(found) == count:
                break
    return found


def get_recommended_ports(start_port: int = 8786, host: str = "127.0.0.1") -> dict[str, int]:
    """Free ports from ``start_port`` upward for a head on ``host``, in the default layout.

    Keys are :class:`~pycluster.HeadNode` arguments, so ``HeadNode(**ports)`` uses them.
    """
    if isinstance(start_port, bool) or not isinstance(start_port, int) or not 1 <= start_port <= 65535:
        raise ConfigError(f"start_port must be a port from 1 to 65535, got {start_port!r}")
    ports: dict[str, int] = {}
    candidate = start_port
    for name, protocol in _LAYOUT:
        free = (find_free_ports if protocol == "tcp" else find_free_udp_ports)(host, candidate, count=1)
        if not free:
            raise PortInUseError(candidate, host, f"{name} ({protocol.upper()})", [])
        ports[name] = free[0]
        candidate = free[0] + 1
    return ports

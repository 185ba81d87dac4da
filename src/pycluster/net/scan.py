"""Scan an address range for head nodes: TCP connects, then the dashboard API confirms.

Bounded in concurrency (``max_concurrency`` connections at once), in time (every
connect and request has ``timeout``) and in size (at most :data:`MAX_SCAN_HOSTS`
addresses), so a scan of a /24 takes a few seconds.

With no range it scans this machine's own subnets (:func:`local_scan_ranges`): each
IPv4 network of an interface that is up, narrowed to the /24 around the interface's
address, loopback only when asked.

>>> clusters = scan_network_for_clusters("192.168.1.0/24")  # doctest: +SKIP
>>> clusters[0]["scheduler_address"]  # doctest: +SKIP
'tcp://192.168.1.100:8786'
>>> local_scan_ranges([{"ip": "10.1.2.3", "netmask": "255.255.0.0", "family": "IPv4",
...     "type": "ethernet", "is_up": True}])
['10.1.2.0/24']
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import httpx

from ..cluster.loop import run_sync
from ..errors import ConfigError

__all__ = [
    "LOCAL_SCAN_PREFIX",
    "MAX_SCAN_HOSTS",
    "ascan_network_for_clusters",
    "local_scan_ranges",
    "scan_network_for_clusters",
]

_log = logging.getLogger(__name__)

DEFAULT_SCHEDULER_PORT = 8786
DEFAULT_SCAN_PORTS = (DEFAULT_SCHEDULER_PORT, 8787)
MAX_SCAN_HOSTS = 4096  # a /20
STATUS_PATH = "/api/cluster/status"
# a subnet found on an interface is scanned at most this wide, around the interface's address
LOCAL_SCAN_PREFIX = 24
# interface kinds in the order their subnets are scanned: real networks before bridges and tunnels
_KIND_ORDER = {"ethernet": 0, "wireless": 1, "virtual": 2, "loopback": 3}


def local_scan_ranges(interfaces: Iterable[Mapping[str, Any]], include_loopback: bool = False) -> list[str]:
    """The ranges a scan with no ``network_range`` covers, from interface rows shaped like
    :func:`pycluster.net.interfaces.get_network_interfaces`' (pure: no traffic, no lookups).

    Only IPv4 addresses of interfaces that are up; loopback only with ``include_loopback``;
    each network narrowed to the /24 that holds the interface's address (a /16 office network
    would be 65,534 addresses); duplicates dropped; real networks first, and no more ranges
    than :data:`MAX_SCAN_HOSTS` addresses in all.
    """
    chosen: list[tuple[int, ipaddress.IPv4Network]] = []
    for row in interfaces:
        if row.get("family") != "IPv4" or not row.get("is_up") or not row.get("ip"):
            continue
        kind = str(row.get("type") or "ethernet")
        address = ipaddress.IPv4Address(str(row["ip"]))
        if (kind == "loopback" or address.is_loopback) and not include_loopback:
            continue
        if address.is_link_local and not include_loopback:
            continue  # 169.254/16: an interface that got no address, not a network of heads
        network = ipaddress.IPv4Network(f"{address}/{row.get('netmask') or '255.255.255.255'}", strict=False)
        if network.prefixlen < LOCAL_SCAN_PREFIX:
            network = ipaddress.IPv4Network(f"{address}/{LOCAL_SCAN_PREFIX}", strict=False)
        chosen.append((_KIND_ORDER.get(kind, 2), network))
    ranges: list[str] = []
    total = 0
    for _, network in sorted(chosen, key=lambda item: item[0]):
        if str(network) in ranges:
            continue
        if total + network.num_addresses > MAX_SCAN_HOSTS:
            _log.warning(
                "scan of the local subnets: %s left out (at most %d addresses)", network, MAX_SCAN_HOSTS
            )
            continue
        ranges.append(str(network))
        total += network.num_addresses
    return ranges


def scan_network_for_clusters(
    network_range: str | Sequence[str] | None = None,
    ports: Sequence[int] | None = None,
    timeout: float = 0.5,
    max_concurrency: int = 128,
    api_token: str | None = None,
    dashboard_ports: Sequence[int] | None = None,
    include_loopback: bool = False,
) -> list[dict[str, Any]]:
    """Every pycluster head in ``network_range`` (CIDR, one address, or a list of them) listening
    on ``ports``; ``None`` scans this machine's own subnets (:func:`local_scan_ranges`, loopback
    too with ``include_loopback``).

    ``ports`` are tried on each address (default 8786 and 8787); an open one of
    ``dashboard_ports`` (default: every port in ``ports`` but 8786) is confirmed
    with ``GET /api/cluster/status``. HTTP never goes to other ports: a Dask
    scheduler logs an error for every HTTP request it receives. A head that needs an API token (and
    ``api_token`` not given) is still reported, with ``requires_token`` true.
    Each result has ``host``, ``scheduler_address``, ``dashboard_url``,
    ``cluster_name``, ``n_workers``, ``requires_key`` (the scheduler needs the cluster key:
    its address is ``tls://``; None when the head would not say), ``requires_token``,
    ``verified`` (always False: plain HTTP proves nothing; list these, never join them
    unchecked) and ``open_ports``.
    """
    return run_sync(
        ascan_network_for_clusters(
            network_range, ports, timeout, max_concurrency, api_token, dashboard_ports, include_loopback
        )
    )


async def ascan_network_for_clusters(
    network_range: str | Sequence[str] | None = None,
    ports: Sequence[int] | None = None,
    timeout: float = 0.5,
    max_concurrency: int = 128,
    api_token: str | None = None,
    dashboard_ports: Sequence[int] | None = None,
    include_loopback: bool = False,
) -> list[dict[str, Any]]:
    """The async twin of :func:`scan_network_for_clusters`."""
    hosts = _hosts_of(network_range, include_loopback)
    port_list = _checked_ports(ports)
    http_ports = (
        _checked_ports(dashboard_ports)
        if dashboard_ports
        else [p for p in port_list if p != DEFAULT_SCHEDULER_PORT]
    )
    if not 1 <= max_concurrency <= 1024:
        raise ConfigError(f"max_concurrency must be from 1 to 1024, got {max_concurrency!r}")
    gate = asyncio.Semaphore(max_concurrency)
    open_ports = await asyncio.gather(*(_open_ports(h, port_list, timeout, gate) for h in hosts))
    candidates = [(h, found) for h, found in zip(hosts, open_ports) if set(found) & set(http_ports)]
    headers = {"Authorization": f"Bearer {api_token}"} if api_token else {}
    async with httpx.AsyncClient(timeout=timeout * 4, headers=headers) as client:
        confirmed = await asyncio.gather(
            *(_confirm(client, h, found, http_ports, gate) for h, found in candidates)
        )
    return [c for c in confirmed if c is not None]


def _hosts_of(network_range: str | Sequence[str] | None, include_loopback: bool) -> list[str]:
    if network_range is None:
        from .interfaces import get_network_interfaces

        ranges = local_scan_ranges(
            get_network_interfaces(include_loopback=include_loopback), include_loopback
        )
        if not ranges:
            _log.warning(
                "no interface is up besides loopback: nothing to scan (include_loopback=True scans it)"
            )
        _log.debug("scanning this machine's subnets: %s", ", ".join(ranges))
    else:
        ranges = [network_range] if isinstance(network_range, str) else list(network_range)
    hosts = list(dict.fromkeys(h for r in ranges for h in scan_hosts(r)))
    if len(hosts) > MAX_SCAN_HOSTS:
        raise ConfigError(f"the ranges hold {len(hosts)} addresses; a scan covers at most {MAX_SCAN_HOSTS}")
    return hosts


def scan_hosts(network_range: str) -> list[str]:
    """The addresses a scan of ``network_range`` visits, or :class:`ConfigError` saying why not."""
    try:
        network = ipaddress.ip_network(str(network_range).strip(), strict=False)
    except ValueError:
        raise ConfigError(
            f"{network_range!r} is not a network range; use CIDR notation such as 192.168.1.0/24 "
            "or a single address such as 192.168.1.100"
        ) from None
    if network.num_addresses > MAX_SCAN_HOSTS:
        raise ConfigError(
            f"{network} has {network.num_addresses} addresses; a scan covers at most {MAX_SCAN_HOSTS} "
            f"(a /{network.max_prefixlen - 12}). Scan a smaller range, or use discovery "
            "(pycluster discover), which asks every head at once."
        )
    if network.num_addresses <= 2:  # /32, /31 (and /128, /127): every address is a host
        return [str(a) for a in network]
    return [str(a) for a in network.hosts()]


def _checked_ports(ports: Sequence[int] | None) -> list[int]:
    chosen = list(DEFAULT_SCAN_PORTS if ports is None else ports)
    bad = [p for p in chosen if isinstance(p, bool) or not isinstance(p, int) or not 1 <= p <= 65535]
    if not chosen or bad:
        raise ConfigError(f"ports must be a non-empty list of ports from 1 to 65535, got {ports!r}")
    return list(dict.fromkeys(chosen))


async def _open_ports(host: str, ports: list[int], timeout: float, gate: asyncio.Semaphore) -> list[int]:
    found = await asyncio.gather(*(_is_open(host, p, timeout, gate) for p in ports))
    return [p for p, is_open in zip(ports, found) if is_open]


async def _is_open(host: str, port: int, timeout: float, gate: asyncio.Semaphore) -> bool:
    async with gate:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        except (OSError, asyncio.TimeoutError):
            return False
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True


async def _confirm(
    client: httpx.AsyncClient,
    host: str,
    open_ports: list[int],
    http_ports: list[int],
    gate: asyncio.Semaphore,
) -> dict[str, Any] | None:
    """Ask each open dashboard port for the status API; the first that answers like a head confirms it."""
    for port in (p for p in open_ports if p in http_ports):
        async with gate:
            url = f"http://{_url_host(host)}:{port}"
            answer = await _status(client, url)
        if answer is not None:
            return _as_result(host, port, url, answer, open_ports)
    return None


async def _status(client: httpx.AsyncClient, url: str) -> dict[str, Any] | None:
    try:
        response = await client.get(url + STATUS_PATH)
    except httpx.HTTPError:
        return None
    if response.status_code == 401 and "needs an API token" in response.text:
        return {"requires_token": True}  # a pycluster head with a token: it says so, and nothing more
    if response.status_code != 200:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    is_head = isinstance(body, dict) and isinstance(body.get("scheduler_address"), str)
    return {**body, "requires_token": False} if is_head else None


def _as_result(
    host: str, port: int, url: str, answer: dict[str, Any], open_ports: list[int]
) -> dict[str, Any]:
    other = [p for p in open_ports if p != port]
    guessed = f"tcp://{_url_host(host)}:{other[0]}" if other else None
    scheduler_address = answer.get("scheduler_address")
    # what the head said about its scheduler; a guessed address says nothing about TLS
    tls = scheduler_address.startswith("tls://") if isinstance(scheduler_address, str) else None
    return {
        "host": host,
        "cluster_name": answer.get("cluster_name"),
        "scheduler_address": scheduler_address or guessed,
        "dashboard_url": answer.get("dashboard_url") or url,
        "n_workers": answer.get("n_workers"),
        "requires_key": tls,
        "requires_token": answer["requires_token"],
        "verified": False,
        "open_ports": open_ports,
    }


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host

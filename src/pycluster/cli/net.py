"""``pycluster discover``, ``test-connection``, ``ports``, and ``worker --discover``.

Thin like the rest of the CLI: each command calls :mod:`pycluster.net` and prints.
Registered on the ``pycluster`` group by :mod:`pycluster.cli.main`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from ..errors import ConfigError, PyClusterError
from .output import fail, print_json
from .secret_options import warn_about_secret_options

__all__ = ["NET_COMMANDS", "discovery_options", "resolve_worker_scheduler"]

F = TypeVar("F", bound=Callable[..., Any])
_DISCOVERY_KEYS = ("discover", "discovery_port", "broadcast_address", "discover_timeout", "insecure")


# ------------------------------------------------------------------------ worker --discover
def discovery_options(command: F) -> F:
    """The ``--discover`` options of ``pycluster worker``."""
    options = [
        click.option(
            "--discover",
            is_flag=True,
            help="Find the head with a UDP discovery probe instead of --scheduler; "
            "asks which one when several answer.",
        ),
        click.option(
            "--discovery-port", type=int, default=8788, show_default=True, help="UDP port heads answer on."
        ),
        click.option(
            "--broadcast-address",
            help="Where the probe goes: a broadcast address (192.168.1.255) or a head's address.  "
            "[default: every interface's broadcast address]",
        ),
        click.option(
            "--discover-timeout",
            type=float,
            default=3.0,
            show_default=True,
            help="Seconds to wait for answers.",
        ),
        click.option(
            "--insecure",
            is_flag=True,
            help="With --discover and no cluster key: join a head whose answer cannot be verified "
            "(anyone on the network can pose as one and run code on this worker).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def resolve_worker_scheduler(options: dict[str, Any]) -> str:
    """The scheduler a worker joins: ``--scheduler``, or the head ``--discover`` finds.

    Takes the discovery options out of ``options``. With a cluster key (``auth_key``)
    only an answer that proves the head holds the same key is joined; without one
    ``--discover`` refuses unless ``--insecure``.
    """
    discover, port, broadcast, timeout, insecure = (options.pop(k) for k in _DISCOVERY_KEYS)
    given = options.get("scheduler_address")
    if discover and given:
        raise ConfigError("give either --scheduler or --discover, not both")
    if given:
        return str(given)
    if not discover:
        raise ConfigError("pass --scheduler tcp://HEAD:8786, or --discover to find a head on this network")
    from ..net.discovery import describe_cluster, find_cluster

    chosen = find_cluster(
        timeout=timeout,
        broadcast_address=broadcast,
        port=port,
        auth_key=options.get("auth_key") or None,  # --auth-key, or PYCLUSTER_AUTH_KEY
        insecure=insecure,
        ask=_ask if _interactive() else None,
    )
    if not chosen.get("verified"):
        click.secho(
            f"WARNING: joining {chosen['scheduler_address']} without verifying it (--insecure, no cluster "
            "key): anyone on this network can answer discovery probes, and the scheduler this worker "
            "joins can run any code on it",
            fg="yellow",
            err=True,
        )
    click.echo(f"discovered {describe_cluster(chosen)}; joining it")
    return str(chosen["scheduler_address"])


def _interactive() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


def _ask(clusters: list[dict[str, Any]]) -> int:
    from ..net.discovery import describe_cluster

    click.echo(f"{len(clusters)} clusters answered:")
    for number, cluster in enumerate(clusters, 1):
        click.echo(f"  [{number}] {describe_cluster(cluster)}")
    return int(click.prompt("Join which one?", type=click.IntRange(1, len(clusters)))) - 1


# ------------------------------------------------------------------------ discover
@click.command("discover")
@click.option("--timeout", type=float, default=3.0, show_default=True, help="Seconds to wait for answers.")
@click.option(
    "--broadcast-address",
    "broadcast_addresses",
    multiple=True,
    help="Where probes go (repeatable): a broadcast address or a head's address.  "
    "[default: every interface's broadcast address]",
)
@click.option("--port", type=int, default=8788, show_default=True, help="UDP discovery port of the heads.")
@click.option("--scan", "network_range", help="Scan this range (CIDR) over TCP instead of asking by UDP.")
@click.option(
    "--ports", "scan_ports", help="With --scan: comma-separated ports to try.  [default: 8786,8787]"
)
@click.option("--api-token", envvar="PYCLUSTER_API_TOKEN", help="With --scan: token for heads that need one.")
@click.option(
    "--auth-key",
    envvar="PYCLUSTER_AUTH_KEY",
    help="The cluster key to verify answers with; prefer the PYCLUSTER_AUTH_KEY variable.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the clusters as JSON.")
def discover_command(
    timeout: float,
    broadcast_addresses: tuple[str, ...],
    port: int,
    network_range: str | None,
    scan_ports: str | None,
    api_token: str | None,
    auth_key: str | None,
    as_json: bool,
) -> None:
    """List the pycluster heads on this network (exit code 1 when none answered).

    VERIFIED says whether an answer proved it comes from a head holding the cluster key
    (--auth-key / PYCLUSTER_AUTH_KEY); anyone on the network can send an unverified one.
    """
    warn_about_secret_options("auth_key", "api_token")
    from ..net import discover_clusters_broadcast, scan_network_for_clusters

    try:
        if network_range:
            ports = _port_list(scan_ports) if scan_ports else None
            clusters = scan_network_for_clusters(network_range, ports, api_token=api_token)
        else:
            clusters = discover_clusters_broadcast(
                timeout, list(broadcast_addresses) or None, port, auth_key=auth_key or None
            )
    except (PyClusterError, ValueError) as exc:
        fail(exc)
    if as_json:
        print_json(clusters)
    elif clusters:
        click.echo(_cluster_table(clusters))
    else:
        click.echo("no pycluster head answered", err=True)
    unverified = sum(1 for c in clusters if not c.get("verified"))
    if unverified and not as_json:
        why = (
            "a scan over HTTP proves nothing"
            if network_range
            else "they did not prove they hold the cluster key"
            if auth_key
            else "pass --auth-key / PYCLUSTER_AUTH_KEY to check them"
        )
        click.echo(
            f"{unverified} of {len(clusters)} not verified ({why}): do not join them blindly", err=True
        )
    sys.exit(0 if clusters else 1)


def _yes_no(value: Any) -> str:
    return "?" if value is None else "yes" if value else "no"


def _port_list(text: str) -> list[int]:
    try:
        return [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise ConfigError(
            f"--ports {text!r} is not a comma-separated list of ports, e.g. 8786,8787"
        ) from None


def _cluster_table(clusters: list[dict[str, Any]]) -> str:
    header = ("NAME", "SCHEDULER", "DASHBOARD", "KEY", "TOKEN", "VERIFIED", "VERSION")
    rows = [header] + [
        (
            str(c.get("cluster_name") or "?"),
            str(c.get("scheduler_address") or "?"),
            str(c.get("dashboard_url") or "-"),
            _yes_no(c.get("requires_key")),
            _yes_no(c.get("requires_token")),
            "yes" if c.get("verified") else "NO",
            str(c.get("version") or "-"),
        )
        for c in clusters
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


# ------------------------------------------------------------------------ test-connection
@click.command("test-connection")
@click.argument("address")
@click.option("--dashboard-url", help="The head's dashboard.  [default: asked by discovery, else port + 1]")
@click.option("--timeout", type=float, default=5.0, show_default=True, help="Seconds for each check.")
@click.option(
    "--discovery-port", type=int, default=8788, show_default=True, help="Where to ask for the dashboard."
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.option(
    "--auth-key",
    envvar="PYCLUSTER_AUTH_KEY",
    help="The head's cluster key for the handshake.  [default: PYCLUSTER_AUTH_KEY, or your own local head's]",
)
def test_connection_command(
    address: str,
    dashboard_url: str | None,
    timeout: float,
    discovery_port: int,
    as_json: bool,
    auth_key: str | None,
) -> None:
    """Check that this machine can join the cluster at ADDRESS (exit code 1 when it cannot)."""
    warn_about_secret_options("auth_key")
    from ..net import test_connection

    try:
        result = test_connection(address, dashboard_url, timeout, discovery_port, auth_key)
    except (PyClusterError, ValueError) as exc:
        fail(exc)
    if as_json:
        print_json(result)
    else:
        _print_connection(result)
    sys.exit(0 if result["can_connect"] else 1)


def _print_connection(result: dict[str, Any]) -> None:
    def mark(ok: bool) -> str:
        return click.style("ok", fg="green") if ok else click.style("FAILED", fg="red")

    latency = f" ({result['latency_ms']} ms)" if result["latency_ms"] is not None else ""
    click.echo(
        f"scheduler reachable  {mark(result['scheduler_reachable'])}{latency}  {result['scheduler_address']}"
    )
    click.echo(f"dask handshake       {mark(result['can_connect'])}  workers: {result['n_workers']}")
    click.echo(f"dashboard reachable  {mark(result['dashboard_reachable'])}  {result['dashboard_url']}")
    for error in result["errors"]:
        click.echo(f"  - {error}", err=True)


# ------------------------------------------------------------------------ ports
@click.command("ports")
@click.option("--start", "start_port", type=int, default=8786, show_default=True, help="First port to try.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface the head will listen on.")
@click.option("--json", "as_json", is_flag=True, help="Print the ports as JSON.")
def ports_command(start_port: int, host: str, as_json: bool) -> None:
    """Suggest free ports for a head: scheduler, dashboard, discovery (UDP), Dask diagnostics."""
    from ..net import get_recommended_ports

    try:
        ports = get_recommended_ports(start_port, host)
    except (PyClusterError, ValueError) as exc:
        fail(exc)
    if as_json:
        print_json(ports)
        return
    for name, port in ports.items():
        click.echo(f"  {name + ':':<22}{port}")
    options = " ".join(f"--{name.replace('_', '-')} {port}" for name, port in ports.items())
    click.echo(f"Start a head on them:\n  pycluster head {options}")


NET_COMMANDS = [discover_command, test_connection_command, ports_command]

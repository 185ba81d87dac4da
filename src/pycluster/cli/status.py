"""``pycluster status``: the workers of a running cluster, from its scheduler."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from ..config import Settings
from ..errors import PyClusterError, SchedulerUnreachableError
from ..units import format_bytes
from .output import fail, print_json
from .secret_options import warn_about_secret_options
from .sizing import merge_scheduler_address

if TYPE_CHECKING:
    from ..cluster.results import WorkerInfo

__all__ = ["status_command"]


@click.command("status")
@click.argument("address", required=False)
@click.option(
    "--scheduler",
    "scheduler_address",
    envvar="PYCLUSTER_SCHEDULER_ADDRESS",
    help="The scheduler to ask; the same as ADDRESS.  [default: tcp://127.0.0.1:8786]",
)
@click.option(
    "--timeout", type=float, default=10.0, show_default=True, help="Seconds to wait for the scheduler."
)
@click.option("--json", "as_json", is_flag=True, help="Print the raw status as JSON.")
@click.option("--auth-key", envvar="PYCLUSTER_AUTH_KEY", help="The head's cluster key, if it has one.")
def status_command(
    address: str | None, scheduler_address: str | None, timeout: float, as_json: bool, auth_key: str | None
) -> None:
    """Show the workers of the cluster at ADDRESS (default tcp://127.0.0.1:8786).

    Exits 1 at once when nothing listens at ADDRESS, or when the cluster key is wrong.
    """
    warn_about_secret_options("auth_key")
    from ..cluster import ClusterManager
    from ..cluster.results import ClusterSummary

    try:
        target = merge_scheduler_address(address, scheduler_address) or (
            f"tcp://127.0.0.1:{Settings.load().cluster.scheduler_port}"
        )
        _refuse_fast(target, timeout)
        with ClusterManager.connect(target, timeout=timeout, auth_key=auth_key) as manager:
            if as_json:
                print_json(manager.get_cluster_info())
                return
            scheduler = manager.scheduler_address
            summary = ClusterSummary.from_identity(manager.client.scheduler_info(n_workers=-1))
    except (PyClusterError, ValueError, OSError) as exc:
        fail(exc)
    click.echo(
        f"cluster at {scheduler}: {summary.n_workers} workers, {summary.total_cores} cores, "
        f"{format_bytes(summary.used_memory_bytes)} / {format_bytes(summary.total_memory_bytes)} memory, "
        f"{summary.active_tasks} tasks running"
    )
    click.echo(_table(summary.workers))


def _refuse_fast(address: str, timeout: float) -> None:
    """Fail at once when the host answers that nothing listens on the port.

    A worker retries a refused connection (its head may be starting); a person asking for
    the status of a cluster that is not running should not wait ``timeout`` seconds to hear so.
    Anything else (no answer yet, a slow network) is left to the full ``timeout``.
    """
    from ..cluster.ports import normalize_scheduler_address, split_address

    host, port = split_address(normalize_scheduler_address(address))
    try:
        with socket.create_connection((host, port), timeout=min(timeout, 2.0)):
            return
    except ConnectionRefusedError as exc:
        raise SchedulerUnreachableError(
            f"scheduler at {address} did not answer: {exc.strerror or exc}. Is the head running there, "
            "on this port? (try: pycluster test-connection ADDRESS)"
        ) from None
    except OSError:
        return  # a timeout or an unreachable route: the full wait below decides


def _table(workers: Sequence[WorkerInfo]) -> str:
    header = ("NAME", "HOST", "STATUS", "CORES", "CPU%", "MEMORY", "TASKS", "RESOURCES")
    rows = [header]
    for w in workers:
        resources = ",".join(f"{k}={v:g}" for k, v in w.resources.items()) or "-"
        memory = f"{format_bytes(w.memory_used)}/{format_bytes(w.memory_limit)}"
        rows.append(
            (
                w.name,
                str(w.host),
                w.status,
                str(w.nthreads),
                f"{w.cpu_percent:.0f}",
                memory,
                str(w.tasks_executing),
                resources,
            )
        )
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(header))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)

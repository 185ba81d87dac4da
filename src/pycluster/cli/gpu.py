"""``pycluster gpu``: this machine's NVIDIA GPUs, or those of a cluster's workers."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable

import click

from ..errors import PyClusterError
from .output import fail, on_stop_signal, print_json

__all__ = ["gpu_command"]


@click.command("gpu")
@click.argument("address", required=False)
@click.option("--once", is_flag=True, help="Print the table once and exit.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON document (the REST API's shape) and exit."
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=1.0,
    show_default=True,
    help="Seconds between refreshes.",
)
@click.option(
    "--timeout", type=float, default=10.0, show_default=True, help="Seconds to wait for the scheduler."
)
def gpu_command(address: str | None, once: bool, as_json: bool, interval: float, timeout: float) -> None:
    """Show NVIDIA GPUs: this machine's, or those of every worker of the cluster at ADDRESS.

    Refreshes every --interval seconds until Ctrl-C; --once and --json print once (for scripts).
    """
    from ..monitor.gpu_watch import GPUWatch

    try:
        watch = GPUWatch.open(address, timeout)
    except (PyClusterError, ValueError, OSError) as exc:
        fail(exc)
    try:
        if as_json:
            print_json(watch.document())
        elif once or watch.unchanging:
            click.echo(watch.table())
        else:
            _refresh_until_stopped(watch.table, interval)
    except (PyClusterError, OSError) as exc:
        fail(exc)
    finally:
        watch.close()


def _refresh_until_stopped(render: Callable[[], str], interval: float) -> None:
    stop = threading.Event()
    on_stop_signal(stop.set)
    while not stop.is_set():
        text = render()
        if sys.stdout.isatty():
            click.clear()
        click.echo(f"{text}\n(every {interval:g}s; Ctrl-C to stop)")
        sys.stdout.flush()
        stop.wait(interval)

"""``pycluster worker`` (and ``pycluster-worker``): worker processes that join a head."""

from __future__ import annotations

import sys
from typing import Any

import click

from ..errors import PyClusterError
from .net import discovery_options, resolve_worker_scheduler
from .output import fail
from .secret_options import warn_if_on_command_line
from .sizing import hidden_alias, merge_aliases, merge_scheduler_address

__all__ = ["worker_command"]


@click.command("worker")
@click.argument("address", required=False)
@click.option(
    "--scheduler",
    "scheduler_address",
    envvar="PYCLUSTER_SCHEDULER_ADDRESS",
    help="Scheduler to join, e.g. tls://192.168.1.100:8786; the same as ADDRESS (or use --discover).",
)
@discovery_options
@click.option(
    "--nworkers",
    "n_workers",
    type=int,
    help="Worker processes to start.  [default: 1, or one per GPU set]",
)
@hidden_alias("--workers", "--nworkers", "n_workers")
@click.option(
    "--nthreads", "threads_per_worker", type=int, help="Threads per worker.  [default: cores / workers]"
)
@hidden_alias("--threads", "--nthreads", "threads_per_worker")
@click.option(
    "--memory-limit", default="auto", show_default=True, help="Per worker: 2GB, 0.5 (of RAM) or auto."
)
@click.option("--name", help="Worker name (suffixed -0, -1, ... when several).")
@click.option("--resources", help="Resources each worker advertises, e.g. GPU=1 or GPU=1,FPGA=2.")
@click.option(
    "--host", help="Interface the workers listen on.  [default: the one that reaches the scheduler]"
)
@click.option(
    "--connect-timeout",
    type=float,
    default=10.0,
    show_default=True,
    help="Seconds to wait for the scheduler to answer before giving up.",
)
@click.option(
    "--reconnect-timeout",
    type=float,
    default=300.0,
    show_default=True,
    help="Seconds to keep trying to rejoin a head that went away (killed, restarting, rebooting) before "
    "exiting with code 69, so a supervisor (systemd Restart=on-failure) starts this again; 0 = exit at once.",
)
@click.option("--death-timeout", type=float, help="Stop after this many seconds without a scheduler.")
@click.option(
    "--gpus",
    help="One worker per GPU, pinned with CUDA_VISIBLE_DEVICES and advertising GPU=1: "
    "all, a number (2 = the first two) or indices (0,1; device=1 for one).",
)
@click.option(
    "--gpus-per-worker", type=int, default=1, show_default=True, help="GPUs each worker gets with --gpus."
)
@click.option(
    "--skip-gpu-check",
    "check_gpus",
    is_flag=True,
    flag_value=False,
    default=True,
    help="Trust the --gpus indices without asking NVML (containers that hide NVML; tests).",
)
@click.option(
    "--auth-key",
    envvar="PYCLUSTER_AUTH_KEY",
    help="The head's cluster key; prefer the PYCLUSTER_AUTH_KEY variable (ps shows command lines).",
)
@click.option(
    "--no-nanny",
    "nanny",
    is_flag=True,
    flag_value=False,
    default=True,
    help="Run the workers in this process, with no Nanny process each (as dask worker --no-nanny): "
    "lighter and quicker to start, but nothing restarts a worker that dies.",
)
@click.option("--watch-pid", type=int, hidden=True, help="Stop when this process ends (used by HeadNode).")
def worker_command(address: str | None, watch_pid: int | None, **options: Any) -> None:
    """Start worker processes that join the head node at ADDRESS (Dask Nannies: a dead worker is
    restarted), e.g. pycluster worker tls://192.168.1.100:8786.

    Runs until Ctrl-C or SIGTERM, then closes its workers.
    """
    from ..cluster.worker_options import WorkerOptions
    from ..cluster.worker_runner import run_workers

    options["scheduler_address"] = merge_scheduler_address(address, options["scheduler_address"])
    ctx = click.get_current_context()
    warn_if_on_command_line(ctx, "auth_key", "--auth-key", "the PYCLUSTER_AUTH_KEY variable")
    merge_aliases(
        options,
        {"n_workers": ("--nworkers", "--workers"), "threads_per_worker": ("--nthreads", "--threads")},
    )
    if not options["scheduler_address"] and not options["discover"]:
        raise click.UsageError(
            "give the scheduler to join: pycluster worker tls://HEAD:8786 (or --scheduler, "
            "PYCLUSTER_SCHEDULER_ADDRESS, or --discover to find a head on this network)"
        )
    try:
        options["scheduler_address"] = resolve_worker_scheduler(options)
        worker_options = WorkerOptions.create(**options)
    except (PyClusterError, ValueError) as exc:
        fail(exc)
    if worker_options.n_workers == 0:
        fail(ValueError("--nworkers must be at least 1"))
    code = run_workers(worker_options, watch_pid=watch_pid, announce=_announce)
    sys.exit(code)


def _announce(message: str) -> None:
    # errors to stderr; the ready line to stdout (a parent HeadNode reads both from one log)
    click.echo(message, err=message.startswith("error: "))

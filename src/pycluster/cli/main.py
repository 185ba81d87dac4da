"""The ``pycluster`` command group, and the ``pycluster-head`` / ``pycluster-worker`` entry points.

Thin by design: options build the real objects (HeadNode, WorkerOptions,
ClusterManager) and call them; no logic lives only here. Each command group is one
module of this package; this one puts them together.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import click

from .. import __version__
from ..logs import LEVELS, configure_logging, level_from_flags
from .api import api_command
from .data import data_group
from .gpu import gpu_command
from .head import head_command
from .jobs import jobs_group
from .llm import llm_group
from .net import NET_COMMANDS
from .platform import PLATFORM_COMMANDS
from .profile import profile_command
from .report import report_command
from .sizing import show_envvars
from .status import status_command
from .worker import worker_command

__all__ = ["EXIT_CODES", "cli", "head_main", "main", "worker_main"]


EXIT_CODES = """\b
Exit codes:
  0  success
  1  a runtime failure: the scheduler or head is unreachable, a key or token is
     wrong, a job failed, a value was refused
  2  a usage error: an unknown command or option, a missing or malformed argument
\b
pycluster worker also exits 69 when its head stayed away past --reconnect-timeout,
and 75 when the head asked it to restart (both for a supervisor such as systemd).
Every option that reads an environment variable names it in that command's --help."""


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES)
@click.version_option(__version__, "-V", "--version", prog_name="pycluster")
@click.option(
    "-l",
    "--log-level",
    type=click.Choice(LEVELS, case_sensitive=False),
    envvar="PYCLUSTER_LOG_LEVEL",
    show_envvar=True,
    help="Least severe log records shown (pycluster's; Dask's and uvicorn's from WARNING, INFO at debug).  "
    "[default: info]",
)
@click.option("-v", "--verbose", count=True, help="One level more detail per -v (-v: debug).")
@click.option("-q", "--quiet", count=True, help="One level less per -q (-q: warnings and errors).")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    envvar="PYCLUSTER_LOG_FORMAT",
    show_envvar=True,
    show_default=True,
    help="Log lines on stderr as text, or as one JSON object per line.",
)
def cli(log_level: str | None, verbose: int, quiet: int, log_format: str) -> None:
    """pycluster: a head node, workers, a dashboard and a REST API on top of Dask.

    \b
    Start a head with two local workers:   pycluster head --nworkers 2
    Join a worker from another machine:    pycluster worker tls://HEAD:8786
    See what is running:                   pycluster status tcp://HEAD:8786
    """
    configure_logging(level_from_flags(log_level, verbose, quiet), "json" if log_format == "json" else "text")


for _command in (
    head_command,
    worker_command,
    status_command,
    gpu_command,
    report_command,
    profile_command,
    api_command,
    *NET_COMMANDS,
    *PLATFORM_COMMANDS,
    data_group,
    llm_group,
    jobs_group,
):
    cli.add_command(_command)
show_envvars(cli)


# ------------------------------------------------------------------------ entry points
def _prog_name() -> str:
    """The name usage lines show: the script's own (``pycluster-head``), or ``pycluster`` under -m."""
    name = os.path.basename(sys.argv[0])
    return "pycluster" if not name or name.endswith(".py") else name


def _run(command: Callable[..., Any]) -> None:
    command(prog_name=_prog_name())


def main() -> None:
    _run(cli)


def head_main() -> None:
    configure_logging()  # what the group does for `pycluster head`, at its defaults
    _run(head_command)


def worker_main() -> None:
    configure_logging()
    _run(worker_command)

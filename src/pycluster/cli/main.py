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
from .status import status_command
from .worker import worker_command

__all__ = ["cli", "head_main", "main", "worker_main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pycluster")
def cli() -> None:
    """pycluster: a head node, workers, a dashboard and a REST API on top of Dask.

    \b
    Start a head with two local workers:   pycluster head --local-workers 2
    Join a worker from another machine:    pycluster worker --scheduler tcp://HEAD:8786
    See what is running:                   pycluster status tcp://HEAD:8786
    """


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
    _run(head_command)


def worker_main() -> None:
    _run(worker_command)

"""The ``pycluster`` command (and ``pycluster-head`` / ``pycluster-worker``).

One module per command group (``head``, ``worker``, ``status``, ``gpu``, ``report``,
``api``, ``net``, ``platform``, ``data``, ``llm``), one REST client for the groups that
drive a running head (:mod:`.rest`) and one way to print errors (:mod:`.output`).
``python -m pycluster.cli`` runs the same command.
"""

from __future__ import annotations

from .main import cli, head_main, main, worker_main

__all__ = ["cli", "head_main", "main", "worker_main"]

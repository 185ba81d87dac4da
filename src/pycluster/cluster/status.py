"""Plain-dict views of a Dask scheduler's ``identity()``.

The same functions serve a head node (reading its own scheduler), a client
attached to any Dask scheduler (``client.scheduler_info()``), the REST API and
the CLI, so every surface reports the same numbers. The typed results they are
made from live in :mod:`pycluster.cluster.results`.
"""

from __future__ import annotations

from typing import Any

from .results import ClusterSummary

__all__ = ["cluster_summary", "worker_rows"]


def worker_rows(identity: dict[str, Any]) -> list[dict[str, Any]]:
    """One dict per worker, sorted by name."""
    return [w.to_dict() for w in ClusterSummary.from_identity(identity).workers]


def cluster_summary(identity: dict[str, Any]) -> dict[str, Any]:
    """Totals in the processing cluster document's shape (plus raw byte counts)."""
    return ClusterSummary.from_identity(identity).to_dict()

"""The dataset registry as a head service; it also makes the dataset operations available to jobs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..jobs.queue import DATABASE_NAME
from . import operations  # noqa: F401  (registers the dataset operations)
from .registry import DatasetRegistry

if TYPE_CHECKING:
    from ..cluster.head import HeadNode

__all__ = ["start_dataset_registry"]


def start_dataset_registry(head: HeadNode) -> DatasetRegistry:
    """Head service factory: datasets in the head's state directory, readable by its job queue."""
    d = head.settings.data
    registry = DatasetRegistry(head.state_dir / DATABASE_NAME, head.state_dir, d.roots, d.allow_remote_urls)
    if "jobs" in head.services:
        head.jobs.context.services["datasets"] = registry
    return registry

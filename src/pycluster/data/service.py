"""The dataset registry as a head service; it also makes the dataset operations available to jobs."""

from __future__ import annotations

import asyncio

from ..cluster.services import HeadContext, HeadService
from ..jobs.queue import DATABASE_NAME
from . import operations  # noqa: F401  (registers the dataset operations)
from .registry import DatasetRegistry

__all__ = ["DatasetService"]


class DatasetService(HeadService):
    """Head service "datasets": the :class:`DatasetRegistry` in the head's state directory,
    readable by the head's job queue (which it therefore requires).

    Given a ``registry`` that is already open (the standalone API's), the service serves
    that one and leaves it open on stop: it belongs to whoever made it."""

    name = "datasets"
    requires = ("jobs",)
    stateful = True

    def __init__(self, registry: DatasetRegistry | None = None) -> None:
        self.registry: DatasetRegistry | None = None
        self._adopted = registry

    async def start(self, ctx: HeadContext) -> None:
        if self._adopted is not None:
            self.registry = self._adopted
        else:
            d = ctx.settings.data
            self.registry = await asyncio.to_thread(
                DatasetRegistry, ctx.state_dir / DATABASE_NAME, ctx.state_dir, d.roots, d.allow_remote_urls
            )
        ctx.service("jobs").context.services["datasets"] = self.registry

    async def stop(self) -> None:
        registry, self.registry = self.registry, None
        if registry is not None and registry is not self._adopted:
            await asyncio.to_thread(registry.close)

    @property
    def public(self) -> DatasetRegistry | None:
        return self.registry

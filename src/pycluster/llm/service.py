"""LLM serving as a head service: deployments kept in the head's SQLite file, redeployed on restart."""

from __future__ import annotations

import asyncio

from ..cluster.services import HeadContext, HeadService
from ..jobs.queue import DATABASE_NAME
from .manager import LLMClusterManager
from .store import DeploymentStore

__all__ = ["LLMService"]


class LLMService(HeadService):
    """Head service "llm": every ``LLMClusterManager(head.cluster_manager)`` shares this one's deployments."""

    name = "llm"
    stateful = True

    def __init__(self) -> None:
        self.manager: LLMClusterManager | None = None

    async def start(self, ctx: HeadContext) -> None:
        self.manager = await asyncio.to_thread(_start_manager, ctx)

    async def stop(self) -> None:
        manager, self.manager = self.manager, None
        if manager is not None:
            await asyncio.to_thread(manager.close)

    @property
    def public(self) -> LLMClusterManager | None:
        return self.manager


def _start_manager(ctx: HeadContext) -> LLMClusterManager:
    manager = LLMClusterManager(ctx.cluster_manager, store=DeploymentStore(ctx.state_dir / DATABASE_NAME))
    manager.restore()  # redeploys what the store lists, in the background
    return manager

"""LLM serving as a head service: deployments kept in the head's SQLite file, redeployed on restart."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..jobs.queue import DATABASE_NAME
from .manager import LLMClusterManager
from .store import DeploymentStore

if TYPE_CHECKING:
    from ..cluster.head import HeadNode

__all__ = ["start_llm_service"]


def start_llm_service(head: HeadNode) -> LLMClusterManager:
    """Head service factory: every LLMClusterManager(head.cluster_manager) shares this one's deployments."""
    store = DeploymentStore(head.state_dir / DATABASE_NAME)
    manager = LLMClusterManager(head.cluster_manager, store=store)
    manager.restore()
    return manager

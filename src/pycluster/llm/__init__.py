"""LLM serving: deployments of models on the cluster's workers, batching, resources."""

from __future__ import annotations

from .autoscaling import AutoscalingConfig
from .manager import LLMClusterManager
from .resources import LLMResourceManager
from .spec import DeploymentStatus, ModelSpec

__all__ = ["AutoscalingConfig", "DeploymentStatus", "LLMClusterManager", "LLMResourceManager", "ModelSpec"]

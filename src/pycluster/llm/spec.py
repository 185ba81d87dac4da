"""What a deployment asks for (ModelSpec) and its lifecycle (DeploymentStatus)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

from ..errors import ConfigError
from .autoscaling import AutoscalingConfig
from .resources import BYTES_PER_PARAMETER, memory_gb

__all__ = ["ENGINES", "SHARDING_STRATEGIES", "DeploymentStatus", "ModelSpec"]

ENGINES = ("auto", "transformers", "vllm")
SHARDING_STRATEGIES = (None, "tensor_parallel", "pipeline_parallel")


class DeploymentStatus(str, Enum):
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"
    UNDEPLOYED = "undeployed"
    STOPPED = "stopped"  # listed with its settings, no replica running: start loads it again


@dataclass
class ModelSpec:
    """The arguments of ``deploy_model``, checked; ``engine`` is resolved ("auto" -> a real one)."""

    model_name: str
    model_size: str | None = None
    precision: str = "fp16"
    gpu_per_replica: int = 1
    replicas: int = 1
    sharding_strategy: str | None = None
    max_memory_per_gpu: float | None = None  # GB; "12GB" and other sizes are converted
    batch_size: int = 8
    max_sequence_length: int = 2048
    engine: str = "auto"
    model_path: str | None = None  # where the weights were found (local folder)
    memory_fraction: float | None = None  # gpu.memory_fraction: the share of each GPU a replica may take
    prefix_cache_mb: float = 256.0  # KV cache of recent prompt prefixes per replica (0: off)
    adapters: dict[str, str] = field(default_factory=dict)  # LoRA adapters: name -> peft folder
    notes: list[str] = field(default_factory=list)
    autoscaling: dict[str, Any] | None = None  # AutoscalingConfig's fields; None: a fixed replica count
    name: str | None = None  # what requests call it (with @version to pin one); default model_name
    version: str = "1"

    def __post_init__(self) -> None:
        if self.max_memory_per_gpu is not None:
            self.max_memory_per_gpu = memory_gb(self.max_memory_per_gpu, "max_memory_per_gpu")
        _check(self.precision in BYTES_PER_PARAMETER, "precision", self.precision, list(BYTES_PER_PARAMETER))
        _check(self.engine in ENGINES, "engine", self.engine, list(ENGINES))
        _check(
            self.sharding_strategy in SHARDING_STRATEGIES,
            "sharding_strategy",
            self.sharding_strategy,
            list(SHARDING_STRATEGIES),
        )
        for name in ("gpu_per_replica", "prefix_cache_mb"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be 0 (CPU) or more, got {getattr(self, name)}")
        if self.replicas < 0 or (self.replicas == 0 and self.autoscaling is None):
            raise ConfigError(f"replicas must be at least 1, got {self.replicas}")  # 0: scaled to zero
        for name in ("batch_size", "max_sequence_length"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.autoscaling is not None:  # checked here, before anything is placed or loaded
            AutoscalingConfig.from_dict(self.autoscaling)
        if not self.model_name.strip():
            raise ConfigError("model_name is empty: give a local folder or a Hugging Face name")
        self.name = self.name or self.model_name
        if "@" in self.version or not self.version.strip():
            raise ConfigError(f"version must be a non-empty label without '@', got {self.version!r}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def scaling(self) -> AutoscalingConfig | None:
        return None if self.autoscaling is None else AutoscalingConfig.from_dict(self.autoscaling)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelSpec:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in values.items() if k in known})


def _check(ok: bool, name: str, value: Any, allowed: list[Any]) -> None:
    if not ok:
        raise ConfigError(f"{name}={value!r} is not one of {allowed}")

"""Where a deployment's replicas run: GPU workers from the resource plan, or CPU workers.

A cluster with no GPU serves a ``gpu_per_replica > 0`` deployment on CPU workers, at
fp32 (fp16 is slow or unsupported on CPUs), with a note that says so.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import ClusterError, ConfigError
from ..monitor.gpu_cluster import gpu_cluster_view
from .resources import LLMResourceManager
from .spec import ModelSpec

__all__ = ["Placement", "cpu_fallback", "place_replicas"]


@dataclass
class Placement:
    worker: str  # worker address
    on_gpu: bool
    resources: dict[str, float] | None


def cpu_fallback(spec: ModelSpec, identity: Mapping[str, Any]) -> None:
    """No GPU in the cluster: serve on CPU workers, saying so in ``spec.notes``."""
    if spec.gpu_per_replica == 0 or gpu_cluster_view(identity).count:
        _cpu_precision(spec)
        return
    if spec.sharding_strategy == "tensor_parallel":
        raise ConfigError(
            "sharding_strategy='tensor_parallel' needs GPUs and the vLLM engine, and this cluster has no "
            "GPU: deploy with sharding_strategy=None (and gpu_per_replica=0) to serve it on CPU workers"
        )
    spec.notes.append(f"no GPU in the cluster: gpu_per_replica={spec.gpu_per_replica} served on CPU workers")
    spec.gpu_per_replica = 0
    spec.sharding_strategy = None
    _cpu_precision(spec)


def _cpu_precision(spec: ModelSpec) -> None:
    if spec.gpu_per_replica == 0 and spec.precision in ("fp16", "int8", "int4"):
        spec.notes.append(f"precision {spec.precision} falls back to fp32 on CPU workers")
        spec.precision = "fp32"
    if spec.gpu_per_replica == 0 and spec.engine == "vllm":
        raise ConfigError("engine='vllm' needs GPU workers: use engine='transformers' on CPU workers")
    if spec.engine == "transformers" and spec.sharding_strategy == "tensor_parallel":
        raise ConfigError(
            "sharding_strategy='tensor_parallel' needs the vLLM engine; the transformers engine supports "
            "pipeline_parallel (layers split over the replica's GPUs)"
        )


def place_replicas(
    spec: ModelSpec, count: int, identity: Mapping[str, Any], taken: Counter[str], avoid: set[str]
) -> list[Placement]:
    """Workers for ``count`` more replicas; ``taken`` counts replicas per worker already placed."""
    workers = identity.get("workers") or {}
    if not workers:
        raise ClusterError("no workers are connected: start some (pycluster worker --scheduler ...)")
    if spec.gpu_per_replica == 0:
        return [Placement(a, False, None) for a in _least_loaded(list(workers), count, taken, avoid)]
    view = gpu_cluster_view(identity)
    plan = LLMResourceManager().fit(
        spec.model_size,
        view.gpus,
        precision=spec.precision,
        gpu_per_replica=spec.gpu_per_replica,
        replicas=count,
        batch_size=spec.batch_size,
        max_sequence_length=spec.max_sequence_length,
        model_path=spec.model_path,
        max_memory_per_gpu=spec.max_memory_per_gpu,
        memory_fraction=spec.memory_fraction,
    )
    by_name = {str(info.get("name", a)): a for a, info in workers.items()}
    gpu_workers = [a for a, info in workers.items() if (info.get("resources") or {}).get("GPU")]
    placements = []
    for replica in plan.replicas:
        named = [by_name[w] for w in replica.workers if w in by_name]
        on_host = [a for a in gpu_workers if str(workers[a].get("host")) == replica.host]
        choice = _least_loaded(named or on_host or gpu_workers, 1, taken, avoid)
        placements.append(Placement(choice[0], True, {"GPU": float(spec.gpu_per_replica)}))
    return placements


def _least_loaded(candidates: list[str], count: int, taken: Counter[str], avoid: set[str]) -> list[str]:
    if not candidates:
        raise ClusterError("no worker can take this replica (none has the GPU resources it needs)")
    chosen = []
    for _ in range(count):
        best = min(sorted(candidates), key=lambda a: (a in avoid, taken[a]))
        taken[best] += 1
        avoid.add(best)
        chosen.append(best)
    return chosen

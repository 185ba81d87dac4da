"""LLMResourceManager: how much memory a model needs, and where its replicas fit.

>>> rm = LLMResourceManager()
>>> est = rm.estimate_memory("7b", precision="fp16", batch_size=1, max_sequence_length=2048)
>>> round(est["weights_gb"], 1), round(est["total_gb"], 1)
(14.0, 16.1)
>>> gpus = [{"host": "h", "id": 0, "memory_total": 8e9, "memory_free": 8e9, "workers": ["w0"]}]
>>> rm.plan("7b", gpus, precision="fp16", batch_size=1)["fits"]
False

The estimate is: parameters x bytes per precision (weights), plus the KV cache for
``batch_size`` sequences of ``max_sequence_length`` tokens (2 x layers x hidden x bytes per
token), plus a fixed overhead (CUDA context, activations, allocator slack). Layers and hidden
size come from the model's config.json when it is a local folder, else from the nearest
well-known shape for its parameter count.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, ModelDoesNotFitError
from ..units import parse_bytes

__all__ = [
    "BYTES_PER_PARAMETER",
    "LLMResourceManager",
    "MemoryEstimate",
    "ModelShape",
    "PlacementPlan",
    "ReplicaSlot",
    "memory_gb",
    "parse_model_size",
]

GB = 1e9
BYTES_PER_PARAMETER: dict[str, float] = {
    "fp32": 4.0,
    "bf16": 2.0,
    "fp16": 2.0,
    "int8": 1.0,
    "int4": 0.5,
}
OVERHEAD_BYTES = 1.0 * GB  # CUDA context + activations + allocator slack, per GPU of a replica
_KV_BYTES = {"int8": 2.0, "int4": 2.0}  # quantized weights still keep a 16-bit KV cache

# (parameters, layers, hidden): the usual decoder shapes, for models known only by their size
_SHAPES = [
    (117e6, 12, 768),
    (345e6, 24, 1024),
    (1.3e9, 24, 2048),
    (7e9, 32, 4096),
    (13e9, 40, 5120),
    (34e9, 48, 8192),
    (70e9, 80, 8192),
]


@dataclass(frozen=True)
class ModelShape:
    parameters: float
    layers: int
    hidden: int
    kv_hidden: int  # hidden size of K and V (smaller than hidden with grouped-query attention)


@dataclass(frozen=True)
class MemoryEstimate:
    """What one replica needs, in GB (``estimate_memory`` answers this as a dict)."""

    parameters: float
    precision: str
    weights_gb: float
    kv_cache_gb: float
    overhead_gb: float
    total_gb: float
    per_gpu_gb: float
    gpu_per_replica: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ReplicaSlot:
    """Where one replica fits: GPUs (their ids) of one host, and the workers pinned to them."""

    host: str
    gpus: list[Any]
    workers: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PlacementPlan:
    """``plan()``'s answer; ``reason`` says what would fit when it does not."""

    fits: bool
    estimate: MemoryEstimate
    replicas: list[ReplicaSlot]
    reason: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def memory_gb(value: Any, name: str = "memory") -> float:
    """GB from a number of GB (12, 12.5) or a size such as "12GB", "500MB" or "11GiB"."""
    if isinstance(value, str):
        try:
            return parse_bytes(value) / 1e9
        except ValueError as exc:
            raise ConfigError(f"{name}={value!r}: {exc}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
        raise ConfigError(
            f"{name}={value!r} is not a size: give GB as a number (12) or a size such as '12GB'"
        )
    return float(value)


def parse_model_size(size: str | float | int) -> float:
    """``"7b"`` -> 7e9, ``"117m"`` -> 1.17e8, ``"1.3B"`` -> 1.3e9; numbers pass through."""
    if isinstance(size, (int, float)) and not isinstance(size, bool):
        if size <= 0:
            raise ConfigError(f"model_size must be positive, got {size}")
        return float(size)
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmbt]?)\s*", str(size).lower())
    if not match:
        raise ConfigError(f"model_size {size!r} is not a size like '7b', '345m' or '1.3b'")
    scale = {"": 1, "k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12}[match.group(2)]
    value = float(match.group(1)) * scale
    if value <= 0:
        raise ConfigError(f"model_size must be positive, got {size!r}")
    return value


def shape_for(parameters: float) -> ModelShape:
    """The nearest well-known shape, hidden size scaled to the parameter count."""
    near = min(_SHAPES, key=lambda s: abs(math.log(parameters / s[0])))
    hidden = max(64, int(near[2] * math.sqrt(parameters / near[0])))
    return ModelShape(parameters, near[1], hidden, hidden)


def shape_from_config(path: str | Path) -> ModelShape | None:
    """The shape of a local model folder, from its config.json (None if there is none)."""
    config_file = Path(path) / "config.json"
    if not config_file.is_file():
        return None
    cfg = json.loads(config_file.read_text(encoding="utf-8"))
    layers = int(cfg.get("num_hidden_layers") or cfg.get("n_layer") or 0)
    hidden = int(cfg.get("hidden_size") or cfg.get("n_embd") or 0)
    if not layers or not hidden:
        return None
    heads = int(cfg.get("num_attention_heads") or cfg.get("n_head") or 1)
    kv_heads = int(cfg.get("num_key_value_heads") or heads)
    vocab = int(cfg.get("vocab_size") or 0)
    inner = int(cfg.get("intermediate_size") or cfg.get("n_inner") or 4 * hidden)
    # attention (4 h^2) + MLP (2 or 3 x h x inner) per layer, plus embeddings
    mlp = 3 if "intermediate_size" in cfg else 2
    parameters = layers * (4 * hidden * hidden + mlp * hidden * inner) + 2 * vocab * hidden
    return ModelShape(float(parameters), layers, hidden, hidden * kv_heads // heads)


class LLMResourceManager:
    """Memory estimates and placement plans for LLM deployments (pure logic, no GPU needed)."""

    def __init__(self, overhead_bytes: float = OVERHEAD_BYTES) -> None:
        self.overhead_bytes = overhead_bytes

    def shape(self, model_size: str | float | None, model_path: str | Path | None = None) -> ModelShape:
        from_config = shape_from_config(model_path) if model_path else None
        if model_size is not None:
            parameters = parse_model_size(model_size)
            if from_config is not None:  # a given size wins for the weights, config for the KV cache
                return ModelShape(parameters, from_config.layers, from_config.hidden, from_config.kv_hidden)
            return shape_for(parameters)
        if from_config is not None:
            return from_config
        raise ConfigError("model_size is needed (e.g. '7b') when the model has no local config.json")

    def estimate_memory(
        self,
        model_size: str | float | None,
        precision: str = "fp16",
        batch_size: int = 8,
        max_sequence_length: int = 2048,
        gpu_per_replica: int = 1,
        model_path: str | Path | None = None,
    ) -> dict[str, Any]:
        """Bytes and GB a replica needs: weights, KV cache, overhead, total and per GPU."""
        return self.estimate(
            model_size, precision, batch_size, max_sequence_length, gpu_per_replica, model_path
        ).to_dict()

    def estimate(
        self,
        model_size: str | float | None,
        precision: str = "fp16",
        batch_size: int = 8,
        max_sequence_length: int = 2048,
        gpu_per_replica: int = 1,
        model_path: str | Path | None = None,
    ) -> MemoryEstimate:
        """``estimate_memory``, typed."""
        if precision not in BYTES_PER_PARAMETER:
            allowed = ", ".join(BYTES_PER_PARAMETER)
            raise ConfigError(f"precision {precision!r} is not one of: {allowed}")
        shape = self.shape(model_size, model_path)
        weights = shape.parameters * BYTES_PER_PARAMETER[precision]
        kv_bytes = _KV_BYTES.get(precision, BYTES_PER_PARAMETER[precision])
        kv = 2 * shape.layers * shape.kv_hidden * kv_bytes * max_sequence_length * batch_size
        gpus = max(1, gpu_per_replica)
        total = weights + kv + self.overhead_bytes * gpus
        return MemoryEstimate(
            parameters=shape.parameters,
            precision=precision,
            weights_gb=weights / GB,
            kv_cache_gb=kv / GB,
            overhead_gb=self.overhead_bytes * gpus / GB,
            total_gb=total / GB,
            per_gpu_gb=total / gpus / GB,
            gpu_per_replica=gpus,
        )

    def plan(
        self,
        model_size: str | float | None,
        gpus: Sequence[Mapping[str, Any]],
        precision: str = "fp16",
        gpu_per_replica: int = 1,
        replicas: int = 1,
        batch_size: int = 8,
        max_sequence_length: int = 2048,
        model_path: str | Path | None = None,
        max_memory_per_gpu: float | str | None = None,
        memory_fraction: float | None = None,
    ) -> dict[str, Any]:
        """Which GPUs of one host each replica takes (most free memory first).

        ``gpus`` are the cluster GPU view's entries (``host``, ``id``, ``memory_free``,
        ``workers``). Returns ``{"fits", "estimate", "replicas": [{"host", "gpus", "workers"}],
        "reason"}``; ``reason`` says what would fit when it does not.
        """
        return self.placement(
            model_size,
            gpus,
            precision,
            gpu_per_replica,
            replicas,
            batch_size,
            max_sequence_length,
            model_path,
            max_memory_per_gpu,
            memory_fraction,
        ).to_dict()

    def placement(
        self,
        model_size: str | float | None,
        gpus: Sequence[Mapping[str, Any]],
        precision: str = "fp16",
        gpu_per_replica: int = 1,
        replicas: int = 1,
        batch_size: int = 8,
        max_sequence_length: int = 2048,
        model_path: str | Path | None = None,
        max_memory_per_gpu: float | str | None = None,
        memory_fraction: float | None = None,
    ) -> PlacementPlan:
        """``plan``, typed. ``max_memory_per_gpu`` (GB, or a size such as "12GB") caps what a replica
        takes of each GPU; ``memory_fraction`` (gpu.memory_fraction) keeps the rest of each GPU's
        memory free for others."""
        cap = None if max_memory_per_gpu is None else memory_gb(max_memory_per_gpu, "max_memory_per_gpu")
        estimate = self.estimate(
            model_size, precision, batch_size, max_sequence_length, gpu_per_replica, model_path
        )
        need = estimate.per_gpu_gb * GB
        free = {_key(g): _usable(g, cap, memory_fraction) for g in gpus}
        placed: list[ReplicaSlot] = []
        for _ in range(replicas):
            choice = _take(gpus, free, need, max(1, gpu_per_replica))
            if choice is None:
                break
            placed.append(choice)
        fits = len(placed) == replicas
        reason = None if fits else self._refusal(estimate, gpus, free, replicas, len(placed))
        return PlacementPlan(fits, estimate, placed, reason)

    def check(
        self, model_size: str | float | None, gpus: Sequence[Mapping[str, Any]], **kwargs: Any
    ) -> dict[str, Any]:
        """``plan()``, raising :class:`ModelDoesNotFitError` with the reason when it does not fit."""
        return self.fit(model_size, gpus, **kwargs).to_dict()

    def fit(
        self, model_size: str | float | None, gpus: Sequence[Mapping[str, Any]], **kwargs: Any
    ) -> PlacementPlan:
        """``check``, typed."""
        plan = self.placement(model_size, gpus, **kwargs)
        if not plan.fits:
            raise ModelDoesNotFitError(plan.reason or "the model does not fit the cluster's GPUs")
        return plan

    def _refusal(
        self,
        estimate: MemoryEstimate,
        gpus: Sequence[Mapping[str, Any]],
        free: dict[tuple[str, Any], float],
        replicas: int,
        placed: int,
    ) -> str:
        size = _size_label(estimate.parameters)
        per = estimate.gpu_per_replica
        head = f"{size} at {estimate.precision} needs ~{estimate.total_gb:.1f} GB per replica"
        if per > 1:
            head += f" (~{estimate.per_gpu_gb:.1f} GB on each of {per} GPUs)"
        if not gpus:
            return f"{head}; the cluster has no GPU: use gpu_per_replica=0 to serve it on CPU workers"
        largest = max(_usable(g, None) for g in gpus) / GB
        hints = [f"gpu_per_replica={per * 2}"]
        smaller = [
            p for p in ("int8", "int4") if BYTES_PER_PARAMETER[p] < BYTES_PER_PARAMETER[estimate.precision]
        ]
        hints += [f"precision={p!r}" for p in smaller[:1]]
        if placed:
            return f"{head}; only {placed} of {replicas} replicas fit the free GPUs: use replicas={placed}"
        return f"{head}; the largest free GPU has {largest:.1f} GB: use {' or '.join(hints)}"


def _key(gpu: Mapping[str, Any]) -> tuple[str, Any]:
    return (str(gpu.get("host")), gpu.get("uuid") or gpu.get("id"))


def _usable(gpu: Mapping[str, Any], cap: float | None, fraction: float | None = None) -> float:
    free = float(gpu.get("memory_free") or 0)
    total = gpu.get("memory_total")
    if fraction is not None and total:
        # (1 - fraction) of the GPU stays free for others, whoever uses it now
        free = max(0.0, free - float(total) * (1 - fraction))
    return min(free, cap * GB) if cap else free


def _take(
    gpus: Sequence[Mapping[str, Any]], free: dict[tuple[str, Any], float], need: float, count: int
) -> ReplicaSlot | None:
    by_host: dict[str, list[Mapping[str, Any]]] = {}
    for gpu in gpus:
        if free[_key(gpu)] >= need:
            by_host.setdefault(str(gpu.get("host")), []).append(gpu)
    for host, candidates in sorted(by_host.items(), key=lambda kv: -len(kv[1])):
        if len(candidates) < count:
            continue
        chosen = sorted(candidates, key=lambda g: -free[_key(g)])[:count]
        for gpu in chosen:
            free[_key(gpu)] -= need
        workers = sorted({w for g in chosen for w in (g.get("workers") or [])})
        return ReplicaSlot(host, [g.get("id") for g in chosen], workers)
    return None


def _size_label(parameters: float) -> str:
    if parameters >= 1e9:
        return f"{parameters / 1e9:.3g}b"
    return f"{parameters / 1e6:.3g}m"

"""What LLM serving answers: deployments, replicas, generations, stream events, replica counters.

Each is built in one place (Deployment.info, ReplicaHandle.info, the manager's generate and
stream_events) and turned into the documented JSON by ``to_dict()``, which the dict-returning
public methods (``get_deployment``, ``inference``, ...) and the REST routes hand out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "AutoscalingStatus",
    "DeploymentInfo",
    "Generation",
    "InferenceResult",
    "LatencyPercentiles",
    "ModelVersion",
    "ReplicaCounters",
    "ReplicaInfo",
    "RequestStats",
    "StreamEnd",
    "StreamEvent",
    "StreamText",
    "Undeployed",
]


@dataclass(frozen=True)
class ReplicaInfo:
    index: int
    worker: str | None
    status: str
    reason: str | None
    requests_in_flight: int
    restarts: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LatencyPercentiles:
    """Milliseconds over the metrics window; None before any request."""

    p50: float | None
    p95: float | None
    p99: float | None


@dataclass(frozen=True)
class RequestStats:
    total_requests: int
    total_tokens: int
    requests_per_second: float
    tokens_per_second: float
    latency_ms: LatencyPercentiles

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AutoscalingStatus:
    """An autoscaling deployment's bounds and target, its load now, and why it is not where the
    load asks (the delays, max_replicas, or no room for another replica)."""

    min_replicas: int
    max_replicas: int
    target_ongoing_requests: float
    upscale_delay_s: float
    downscale_delay_s: float
    ongoing_requests: int
    wanted_replicas: int | None
    reason: str | None


@dataclass(frozen=True)
class DeploymentInfo:
    """A deployment's settings, replicas and request metrics (``GET /api/llm/models/{id}``)."""

    deployment_id: str
    model_name: str
    status: str
    reason: str | None
    notes: list[str]
    engine: str
    precision: str
    gpu_per_replica: int
    sharding_strategy: str | None
    batch_size: int
    max_sequence_length: int
    replicas: int
    replicas_ready: int
    replica_details: list[ReplicaInfo]
    created_at: float
    metrics: RequestStats
    autoscaling: AutoscalingStatus | None = None
    name: str | None = None  # requests name it ``name`` (weighted) or ``name@version``
    version: str | None = None
    traffic_weight: float | None = None  # its share of ``name``'s requests

    def to_dict(self) -> dict[str, Any]:
        # the documented JSON has the metrics at the top level, beside the settings
        values = asdict(self)
        values.update(values.pop("metrics"))
        return values

    def _repr_html_(self) -> str:
        """Jupyter's view: model, status, replicas ready and where, request rates and latency."""
        from ..html_repr import html_table

        where = ", ".join(f"{r.index}: {r.status} on {r.worker or '-'}" for r in self.replica_details)
        p50 = self.metrics.latency_ms.p50
        rows: list[tuple[str, object]] = [
            ("model", self.model_name),
            ("status", self.status if not self.reason else f"{self.status}: {self.reason}"),
            ("engine", f"{self.engine}, {self.precision}, {self.gpu_per_replica} GPU(s) per replica"),
            (
                "replicas",
                f"{self.replicas_ready} of {self.replicas} ready" + (f" ({where})" if where else ""),
            ),
            ("requests", f"{self.metrics.total_requests} ({self.metrics.requests_per_second:.2f}/s)"),
            ("tokens", f"{self.metrics.total_tokens} ({self.metrics.tokens_per_second:.1f}/s)"),
            ("latency p50", f"{p50:.0f} ms" if p50 is not None else None),
        ]
        return html_table(f"Deployment {self.deployment_id}", rows)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> DeploymentInfo:
        """From the documented JSON (how the CLI reads the REST answers)."""
        latency = LatencyPercentiles(**values["latency_ms"])
        metrics = RequestStats(
            values["total_requests"],
            values["total_tokens"],
            values["requests_per_second"],
            values["tokens_per_second"],
            latency,
        )
        nested = ("replica_details", "metrics", "autoscaling")
        own = {k: values[k] for k in cls.__dataclass_fields__ if k not in nested}
        replicas = [ReplicaInfo(**r) for r in values["replica_details"]]
        scaling = values.get("autoscaling")
        autoscaling = AutoscalingStatus(**scaling) if scaling else None
        return cls(**own, replica_details=replicas, metrics=metrics, autoscaling=autoscaling)


@dataclass(frozen=True)
class ModelVersion:
    """One version of a name: its deployment, status and share of the traffic."""

    version: str
    deployment_id: str
    status: str
    weight: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Undeployed:
    deployment_id: str
    status: str = "undeployed"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Generation:
    """One finished completion as a replica made it, with the head's end-to-end latency."""

    text: str
    tokens_generated: int
    prompt_tokens: int
    finish_reason: str  # "stop" (EOS or a stop sequence) or "length" (max_tokens)
    batch_size: int  # requests in the forward batch this one ran in
    engine_ms: float  # time in the model, without queueing or transfer
    latency_ms: float

    @classmethod
    def from_replica(cls, answer: Mapping[str, Any], latency_ms: float) -> Generation:
        """From a replica's answer (a dict: it crosses the actor boundary)."""
        return cls(
            text=str(answer["text"]),
            tokens_generated=int(answer["tokens_generated"]),
            prompt_tokens=int(answer.get("prompt_tokens", 0)),
            finish_reason=str(answer["finish_reason"]),
            batch_size=int(answer.get("batch_size", 1)),
            engine_ms=float(answer.get("engine_ms", 0.0)),
            latency_ms=round(latency_ms, 2),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, kw_only=True)
class InferenceResult(Generation):
    """``LLMClusterManager.inference`` and ``POST /api/llm/models/{id}/inference``."""

    deployment_id: str
    model_name: str
    replica: int


@dataclass(frozen=True)
class StreamText:
    """A piece of streamed text (never empty)."""

    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text}


@dataclass(frozen=True)
class StreamEnd:
    """The last event of a stream: the whole generation's counts."""

    result: Generation

    def to_dict(self) -> dict[str, Any]:
        return {"done": True, "result": self.result.to_dict()}


StreamEvent = StreamText | StreamEnd


@dataclass(frozen=True)
class ReplicaCounters:
    """A ready replica's batching counters, device and engine (``replica_stats``)."""

    index: int
    forward_batches: int
    batched_requests: int
    largest_batch: int
    queued: int
    load_seconds: float
    device: str
    engine: str
    context_length: int
    extra: dict[str, Any] = field(default_factory=dict)  # counters an engine adds

    @classmethod
    def from_replica(cls, index: int, answer: Mapping[str, Any]) -> ReplicaCounters:
        named = {k for k in cls.__dataclass_fields__ if k not in ("index", "extra")}
        return cls(
            index=index,
            forward_batches=int(answer["forward_batches"]),
            batched_requests=int(answer["batched_requests"]),
            largest_batch=int(answer["largest_batch"]),
            queued=int(answer["queued"]),
            load_seconds=float(answer["load_seconds"]),
            device=str(answer["device"]),
            engine=str(answer["engine"]),
            context_length=int(answer["context_length"]),
            extra={k: v for k, v in answer.items() if k not in named},
        )

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values.update(values.pop("extra"))
        return values

"""A deployment's state on the head: its spec, status, replicas and metrics."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import DeploymentBusyError
from .autoscaling import Autoscaler
from .backoff import LoadBackoff
from .metrics import RequestMetrics
from .results import AutoscalingStatus, DeploymentInfo, ReplicaInfo
from .spec import DeploymentStatus, ModelSpec

__all__ = ["Deployment", "ReplicaHandle"]


@dataclass
class ReplicaHandle:
    index: int
    worker: str | None = None
    future: Any = None  # the actor's distributed.Future
    actor: Any = None
    status: DeploymentStatus = DeploymentStatus.LOADING
    reason: str | None = None
    inflight: int = 0
    restarts: int = 0
    error: BaseException | None = None  # why it failed to load (``reason`` says it in words)
    failure_counted: bool = False  # its failure to load is in its deployment's backoff already

    def info(self) -> ReplicaInfo:
        return ReplicaInfo(
            self.index, self.worker, self.status.value, self.reason, self.inflight, self.restarts
        )


@dataclass
class Deployment:
    id: str
    spec: ModelSpec
    status: DeploymentStatus = DeploymentStatus.LOADING
    reason: str | None = None
    created_at: float = field(default_factory=time.time)
    replicas: list[ReplicaHandle] = field(default_factory=list)
    metrics: RequestMetrics = field(default_factory=RequestMetrics)
    changed: threading.Condition = field(default_factory=threading.Condition)
    in_flight: int = 0  # requests admitted and not finished (llm.max_concurrent_requests bounds it)
    autoscaler: Autoscaler | None = None  # None: the replica count changes only by hand
    wanted_replicas: int | None = None  # the autoscaler's last reading of the load
    scaling_reason: str | None = None  # why it does not run what the load asks for
    load_backoff: LoadBackoff = field(default_factory=LoadBackoff)  # after replicas failed to load
    traffic_weight: float | None = None  # set by the manager from its name's traffic split
    # held while a request picks its replica and while a replica is taken away: none is taken
    # away from under a request that just picked it
    routing: threading.Lock = field(default_factory=threading.Lock, repr=False)
    scaling: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _admission: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        config = self.spec.scaling
        if config is not None and self.autoscaler is None:
            self.autoscaler = Autoscaler(config)

    @contextlib.contextmanager
    def admitted(self, limit: int | None) -> Iterator[None]:
        """Hold one of ``limit`` request slots while the body runs; DeploymentBusyError when none is free."""
        with self._admission:
            if limit is not None and self.in_flight >= limit:
                raise DeploymentBusyError(
                    f"deployment {self.id} already serves {self.in_flight} requests, its limit "
                    f"(llm.max_concurrent_requests / PYCLUSTER_LLM_MAX_CONCURRENT_REQUESTS = {limit}): "
                    "retry shortly, or add replicas"
                )
            self.in_flight += 1
        try:
            yield
        finally:
            with self._admission:
                self.in_flight -= 1

    def refresh_status(self) -> None:
        """Ready when any replica is; failed when all are; else loading. Wakes waiters."""
        states = {r.status for r in self.replicas}
        with self.changed:
            if self.status == DeploymentStatus.STOPPED:  # a load that ends after stop changes nothing
                self.changed.notify_all()
                return
            if not self.replicas and self.autoscaler is not None:
                # scaled to zero: ready, the next request starts a replica and waits for it
                self.status, self.reason = DeploymentStatus.READY, None
            elif DeploymentStatus.READY in states:
                self.status, self.reason = DeploymentStatus.READY, None
            elif states and states == {DeploymentStatus.FAILED}:
                self.status = DeploymentStatus.FAILED
                self.reason = "; ".join(dict.fromkeys(r.reason or "failed" for r in self.replicas))
            elif self.status != DeploymentStatus.FAILED or DeploymentStatus.LOADING in states:
                self.status = DeploymentStatus.LOADING
            self.changed.notify_all()

    def wait_changed(self, timeout: float) -> None:
        """Sleep until a replica's state changes (or ``timeout``)."""
        with self.changed:
            self.changed.wait(timeout)

    def wait(self, timeout: float) -> DeploymentStatus:
        with self.changed:
            self.changed.wait_for(lambda: self.status != DeploymentStatus.LOADING, timeout)
        return self.status

    def info(self) -> DeploymentInfo:
        spec = self.spec
        return DeploymentInfo(
            deployment_id=self.id,
            model_name=spec.model_name,
            status=self.status.value,
            reason=self.reason,
            notes=list(spec.notes),
            engine=spec.engine,
            precision=spec.precision,
            gpu_per_replica=spec.gpu_per_replica,
            sharding_strategy=spec.sharding_strategy,
            batch_size=spec.batch_size,
            max_sequence_length=spec.max_sequence_length,
            replicas=len(self.replicas),
            replicas_ready=sum(r.status == DeploymentStatus.READY for r in self.replicas),
            replica_details=[r.info() for r in self.replicas],
            created_at=self.created_at,
            metrics=self.metrics.summary(),
            autoscaling=self._autoscaling(),
            name=spec.name,
            version=spec.version,
            traffic_weight=self.traffic_weight,
        )

    def _autoscaling(self) -> AutoscalingStatus | None:
        if self.autoscaler is None:
            return None
        config = self.autoscaler.config
        return AutoscalingStatus(
            **config.to_dict(),
            ongoing_requests=self.in_flight,
            wanted_replicas=self.wanted_replicas,
            reason=self.scaling_reason,
        )

    def summary(self) -> dict[str, Any]:
        """``info()`` as the documented JSON."""
        return self.info().to_dict()

"""The head's GPU service: every worker's GPUs, a history for ``recent_metrics``, and alerts.

On start it registers :class:`~pycluster.gpu.worker_plugin.GPUReporter` on the scheduler
(every present and future worker reports its GPUs with its heartbeats), then every
``monitoring.gpu_interval`` seconds it reads those reports on the head's event loop, keeps
a sample for ``monitoring.metrics_retention`` seconds and checks the alert thresholds of
the head's pycluster.yaml.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from distributed.protocol.pickle import dumps

from ..cluster.services import HeadContext, HeadService
from ..gpu.alerts import Alert, AlertTracker, GPUThresholds
from ..gpu.history import GPUHistory
from ..gpu.readings import history_sample, iso_time
from ..gpu.worker_plugin import PLUGIN_NAME, GPUReporter
from .gpu_cluster import GPUClusterView, gpu_cluster_view
from .periodic import SnapshotLoop

if TYPE_CHECKING:
    from ..cluster.head import HeadNode

__all__ = ["ClusterGPUService", "GPUService", "GPUStatusDocument"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GPUStatusDocument:
    """``GET /api/llm/gpu/status``: the view, its recent samples and the active alerts."""

    summary: GPUClusterView
    recent_metrics: list[dict[str, Any]]  # pycluster.gpu.readings.history_sample points
    alerts: list[Alert]
    timestamp: str | None  # when the readings were taken; None before the first (or without the service)
    interval: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "summary": self.summary.to_dict(),
            "recent_metrics": self.recent_metrics,
            "alerts": self.alerts,
            "timestamp": self.timestamp,
            "interval": self.interval,
        }

    def only_host(self, host: str) -> GPUStatusDocument | None:
        """The document of one host (None when no worker runs there)."""
        summary = self.summary.only_host(host)
        if summary is None:
            return None
        samples = [host_sample(s, host) for s in self.recent_metrics]
        alerts = [a for a in self.alerts if a["host"] == host]
        return GPUStatusDocument(summary, samples, alerts, self.timestamp, self.interval)


def host_sample(sample: dict[str, Any], host: str, gpu: int | None = None) -> dict[str, Any]:
    """A history sample cut to one host's GPUs (or one GPU of it), totals recomputed."""
    gpus = [g for g in sample["gpus"] if g.get("host") == host and (gpu is None or g.get("id") == gpu)]
    return history_sample(gpus, sample["time"])


class ClusterGPUService(SnapshotLoop):
    """The cluster-wide GPU view, refreshed on the head's loop."""

    def __init__(self, head: HeadNode) -> None:
        m = head.settings.monitoring
        super().__init__(head, m.gpu_interval)
        self.history = GPUHistory(m.metrics_retention)
        self.alerts = AlertTracker(GPUThresholds.from_settings(head.settings))
        self.current: GPUClusterView = gpu_cluster_view({})
        self.updated_at: float | None = None

    async def prepare(self) -> None:
        await self._register_reporter()

    def observe(self, identity: dict[str, Any]) -> None:
        self.update(identity)

    async def _register_reporter(self) -> None:
        scheduler = self.head.scheduler
        plugin = dumps(GPUReporter(self.interval))  # type: ignore[no-untyped-call,unused-ignore]
        responses = await scheduler.register_worker_plugin(None, plugin, PLUGIN_NAME, idempotent=False)
        for worker, response in (responses or {}).items():
            if response.get("status") == "error":  # e.g. a plain Dask worker without pycluster
                logger.warning("worker %s cannot report its GPUs: %s", worker, response.get("exception"))

    def update(self, identity: dict[str, Any], now: float | None = None) -> GPUClusterView:
        """Take in the scheduler's current worker reports."""
        now = time.time() if now is None else now
        view = gpu_cluster_view(identity)
        self.current, self.updated_at = view, now
        if view.available:
            self.history.append(history_sample(view.gpus, now), now)
        self.alerts.update(view.gpus, now)
        return view

    @property
    def view(self) -> dict[str, Any]:
        """The current view as the document's ``summary`` dict (what the Prometheus export reads)."""
        return self.current.to_dict()

    def document(self, history: int = 60) -> GPUStatusDocument:
        """The ``GET /api/llm/gpu/status`` document with the last ``history`` samples."""
        return GPUStatusDocument(
            summary=self.current,
            recent_metrics=self.history.latest(history),
            alerts=self.alerts.active(),
            timestamp=iso_time(self.updated_at) if self.updated_at else None,
            interval=self.interval,
        )

    def status(self, history: int = 60) -> dict[str, Any]:
        """``document()`` as the documented JSON (``head.gpus.status()``)."""
        return self.document(history).to_dict()


class GPUService(HeadService):
    """Head service "gpu": a :class:`ClusterGPUService` refreshed every ``monitoring.gpu_interval`` s."""

    name = "gpu"

    def __init__(self) -> None:
        self.gpus: ClusterGPUService | None = None

    async def start(self, ctx: HeadContext) -> None:
        self.gpus = ClusterGPUService(ctx.head)
        await self.gpus.start()

    async def stop(self) -> None:
        if self.gpus is not None:
            await self.gpus.stop_async()

    @property
    def public(self) -> ClusterGPUService | None:
        return self.gpus

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
from typing import TYPE_CHECKING, Any

from distributed.protocol.pickle import dumps

from ..cluster.services import HeadContext, HeadService
from ..gpu.alerts import AlertTracker, GPUThresholds
from ..gpu.history import GPUHistory
from ..gpu.readings import history_sample, iso_time
from ..gpu.worker_plugin import PLUGIN_NAME, GPUReporter
from .gpu_cluster import cluster_gpu_view
from .periodic import SnapshotLoop

if TYPE_CHECKING:
    from ..cluster.head import HeadNode

__all__ = ["ClusterGPUService", "GPUService"]

logger = logging.getLogger(__name__)


class ClusterGPUService(SnapshotLoop):
    """The cluster-wide GPU view, refreshed on the head's loop."""

    def __init__(self, head: HeadNode) -> None:
        m = head.settings.monitoring
        super().__init__(head, m.gpu_interval)
        self.history = GPUHistory(m.metrics_retention)
        self.alerts = AlertTracker(GPUThresholds.from_settings(head.settings))
        self.view: dict[str, Any] = cluster_gpu_view({})
        self.updated_at: float | None = None

    async def prepare(self) -> None:
        await self._register_reporter()

    def observe(self, identity: dict[str, Any]) -> None:
        self.update(identity)

    async def _register_reporter(self) -> None:
        scheduler = self.head.scheduler
        plugin = dumps(GPUReporter(self.interval))
        responses = await scheduler.register_worker_plugin(None, plugin, PLUGIN_NAME, idempotent=False)
        for worker, response in (responses or {}).items():
            if response.get("status") == "error":  # e.g. a plain Dask worker without pycluster
                logger.warning("worker %s cannot report its GPUs: %s", worker, response.get("exception"))

    def update(self, identity: dict[str, Any], now: float | None = None) -> dict[str, Any]:
        """Take in the scheduler's current worker reports."""
        now = time.time() if now is None else now
        view = cluster_gpu_view(identity)
        self.view, self.updated_at = view, now
        if view["available"]:
            self.history.append(history_sample(view["gpus"], now), now)
        self.alerts.update(view["gpus"], now)
        return view

    def status(self, history: int = 60) -> dict[str, Any]:
        """The ``GET /api/llm/gpu/status`` document with the last ``history`` samples."""
        return {
            "summary": self.view,
            "recent_metrics": self.history.latest(history),
            "alerts": self.alerts.active(),
            "timestamp": iso_time(self.updated_at) if self.updated_at else None,
            "interval": self.interval,
        }


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

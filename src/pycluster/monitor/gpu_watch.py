"""What ``pycluster gpu`` shows: this machine's GPUs, or every worker's GPUs in a cluster.

>>> watch = GPUWatch.open()          # this machine
>>> document = watch.document()
>>> sorted(document)
['alerts', 'summary', 'timestamp']
>>> watch.close()
"""

from __future__ import annotations

import time
from typing import Any

from ..config import Settings
from ..gpu.alerts import Alert, AlertTracker, GPUThresholds
from ..gpu.monitor import GPUMonitor
from ..gpu.readings import iso_time
from .gpu_cluster import cluster_gpu_view, host_entry, summarize
from .gpu_table import format_gpu_table

__all__ = ["GPUWatch"]


class GPUWatch:
    """Reads a GPU view on demand, from a local :class:`GPUMonitor` or a cluster's scheduler."""

    def __init__(self, settings: Settings, manager: Any = None) -> None:
        self._manager = manager
        self._monitor = None if manager is not None else GPUMonitor(settings)
        # the local monitor checks its own thresholds; a cluster's reports are checked here
        self._alerts = (
            self._monitor.alerts if self._monitor else AlertTracker(GPUThresholds.from_settings(settings))
        )
        self._alerts.log = False  # the table prints the alerts: no log line for them as well

    @classmethod
    def open(cls, address: str | None = None, timeout: float = 10.0) -> GPUWatch:
        """This machine's GPUs, or (with a scheduler ``address``) the cluster's."""
        settings = Settings.load()
        if address is None:
            return cls(settings)
        from ..cluster import ClusterManager

        return cls(settings, ClusterManager.connect(address, timeout=timeout))

    @property
    def unchanging(self) -> bool:
        """True for this machine without a GPU: nothing to refresh."""
        return self._monitor is not None and not self._monitor.available

    def read(self) -> tuple[dict[str, Any], list[Alert]]:
        """The current view (the API's ``summary`` shape) and the active alerts."""
        if self._monitor is not None:
            status = self._monitor.get_gpu_status()
            return summarize([host_entry(status["hostname"], status)]), status["alerts"]
        view = cluster_gpu_view(self._manager.client.scheduler_info(n_workers=-1))
        self._alerts.update(view["gpus"], time.time())
        return view, self._alerts.active()

    def document(self) -> dict[str, Any]:
        view, alerts = self.read()
        return {"summary": view, "alerts": alerts, "timestamp": iso_time(time.time())}

    def table(self) -> str:
        return format_gpu_table(*self.read())

    def close(self) -> None:
        if self._monitor is not None:
            self._monitor.close()
        if self._manager is not None:
            self._manager.shutdown()

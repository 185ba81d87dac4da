"""Cluster metrics sampled every few seconds on the head, kept for ``metrics_retention``."""

from __future__ import annotations

import time
from collections import Counter, deque
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from distributed.diagnostics.plugin import SchedulerPlugin

from ..cluster.services import HeadContext, HeadService
from ..cluster.status import cluster_summary
from .cluster_alerts import ClusterAlerts
from .periodic import SnapshotLoop
from .task_stream import TaskStream

if TYPE_CHECKING:
    from ..cluster.head import HeadNode

__all__ = ["MetricsHistory", "MetricsService", "TaskCounter"]


class TaskCounter(SchedulerPlugin):
    """Counts tasks that finished (in memory) or failed, since the scheduler started,
    and keeps the latest failures with their error text (for the dashboard)."""

    name = "pycluster-task-counter"

    def __init__(self, keep_failures: int = 50) -> None:
        self.completed = 0
        self.failed = 0
        self.failures: deque[dict[str, Any]] = deque(maxlen=keep_failures)
        self.failed_at_clear = 0

    def transition(self, key: Any, start: str, finish: str, *args: Any, **kwargs: Any) -> None:
        if start == "processing":
            if finish == "memory":
                self.completed += 1
            elif finish == "erred":
                self.failed += 1
                self.failures.append(_failure(key, kwargs))

    def clear_failures(self) -> int:
        """Forget the failures shown so far (the ``failed`` total, a Prometheus counter, stays)."""
        cleared = self.failed - self.failed_at_clear
        self.failures.clear()
        self.failed_at_clear = self.failed
        return cleared


def _failure(key: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    text = str(kwargs.get("exception_text") or "unknown error")
    return {
        "key": str(key),
        "error": text[:2000],
        "worker": kwargs.get("worker"),
        "time": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
    }


class MetricsHistory(SnapshotLoop):
    """A ring of samples: workers, cores, memory, tasks, CPU and network I/O over time."""

    def __init__(self, head: HeadNode, interval: float, retention: float) -> None:
        super().__init__(head, interval)
        self.samples: deque[dict[str, Any]] = deque(maxlen=max(1, int(retention / self.interval)))
        self.counter = TaskCounter()
        self.task_stream = TaskStream()
        self.alerts = ClusterAlerts(head.settings.monitoring.alert_thresholds)
        self._last: tuple[float, int] | None = None

    async def prepare(self) -> None:
        self.head.scheduler.add_plugin(self.counter)
        self.head.scheduler.add_plugin(self.task_stream)
        # the head's own workers connect while its services start: they joined just now
        self.task_stream.joined.update(dict.fromkeys(self.head.scheduler.workers, time.time()))

    def observe(self, identity: dict[str, Any]) -> None:
        self.samples.append(self.sample(identity))
        self.alerts.observe(self.samples[-1])

    def sample(self, identity: dict[str, Any]) -> dict[str, Any]:
        summary = cluster_summary(identity)
        workers = list(identity.get("workers", {}).values())
        now = time.time()
        completed = self.counter.completed
        rate = 0.0
        if self._last is not None and now > self._last[0]:
            rate = (completed - self._last[1]) / (now - self._last[0])
        self._last = (now, completed)
        return {
            "timestamp": datetime.fromtimestamp(now, timezone.utc).isoformat().replace("+00:00", "Z"),
            "n_workers": summary["n_workers"],
            "total_memory": summary["total_memory"],
            "used_memory": summary["used_memory"],
            "total_memory_bytes": summary["total_memory_bytes"],
            "used_memory_bytes": summary["used_memory_bytes"],
            "memory_usage_percent": summary["memory_usage_percent"],
            "total_cores": summary["total_cores"],
            "active_tasks": summary["active_tasks"],
            "cpu_percent": round(_mean(w.get("metrics", {}).get("cpu", 0.0) for w in workers), 2),
            "network_read_bps": _net(workers, "read_bps"),
            "network_write_bps": _net(workers, "write_bps"),
            "tasks_completed_total": completed,
            "tasks_failed_total": self.counter.failed,
            "tasks_per_second": round(rate, 2),
        }

    def task_states(self) -> dict[str, int]:
        """Tasks the scheduler holds now, by state, summed over task groups (no per-task walk).
        Call it on the head's event loop, where the scheduler changes them."""
        totals: Counter[str] = Counter()
        scheduler = self.head.scheduler
        for group in list(scheduler.task_groups.values()) if scheduler is not None else []:
            totals.update({state: n for state, n in group.states.items() if n})
        return dict(totals)


def _mean(values: Any) -> float:
    items = [float(v or 0.0) for v in values]
    return sum(items) / len(items) if items else 0.0


def _net(workers: list[dict[str, Any]], field: str) -> float:
    # every worker on a host reports the same host counters: count each host once
    per_host = {
        w.get("host"): (w.get("metrics", {}).get("host_net_io", {}) or {}).get(field, 0.0) for w in workers
    }
    return round(sum(float(v or 0.0) for v in per_host.values()), 1)


class MetricsService(HeadService):
    """Head service "metrics": a :class:`MetricsHistory` sampled every ``monitoring.metrics_interval`` s."""

    name = "metrics"

    def __init__(self) -> None:
        self.history: MetricsHistory | None = None

    async def start(self, ctx: HeadContext) -> None:
        m = ctx.settings.monitoring
        self.history = MetricsHistory(ctx.head, m.metrics_interval, m.metrics_retention)
        await self.history.start()

    async def stop(self) -> None:
        if self.history is not None:
            await self.history.stop_async()

    @property
    def public(self) -> MetricsHistory | None:
        return self.history

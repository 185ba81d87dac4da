"""GET /metrics: Prometheus exposition through ``prometheus_client``.

Each scrape reads the head once (the same snapshot the REST routes read) and hands it to custom
collectors in a registry of its own; ``prometheus_client`` writes the text. Names are
``pycluster_*`` in base units (``_bytes``, ``_seconds``) and counters end in ``_total``. Values are
printed with all their digits (``repr`` of the float, e.g. ``2.5276123456e+10``), never rounded.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.metrics_core import Metric

from ... import __version__
from ...cluster.results import ClusterSummary
from ...jobs.model import JobStatus, Priority
from ..deps import ERROR_RESPONSES, controller
from ..prometheus_gpu import GPUCollector

__all__ = ["ClusterCollector", "ClusterReading", "router"]

router = APIRouter(responses=ERROR_RESPONSES, tags=["metrics"])


@dataclass(frozen=True)
class ClusterReading:
    """What one scrape read from the head, before any metric is written."""

    running: bool
    summary: ClusterSummary = field(default_factory=ClusterSummary)
    uptime_seconds: float | None = None
    tasks_completed: int | None = None
    tasks_failed: int | None = None
    job_counts: dict[tuple[str, int], int] | None = None


class ClusterCollector:
    """Cluster, worker, task and job metrics from a :class:`ClusterReading`."""

    def __init__(self, reading: ClusterReading) -> None:
        self.reading = reading

    def collect(self) -> Iterator[Metric]:
        r = self.reading
        yield InfoMetricFamily("pycluster_build", "pycluster version", value={"version": __version__})
        yield GaugeMetricFamily("pycluster_up", "1 while the cluster runs", value=1 if r.running else 0)
        if not r.running:
            return
        if r.uptime_seconds is not None:
            yield GaugeMetricFamily(
                "pycluster_uptime_seconds", "Seconds since the head started", r.uptime_seconds
            )
        yield from _cluster_families(r.summary)
        yield from _worker_families(r.summary)
        if r.tasks_completed is not None and r.tasks_failed is not None:
            yield CounterMetricFamily(
                "pycluster_tasks_completed", "Tasks finished since start", value=r.tasks_completed
            )
            yield CounterMetricFamily(
                "pycluster_tasks_failed", "Tasks failed since start", value=r.tasks_failed
            )
        if r.job_counts is not None:
            yield from _job_families(r.job_counts)


def _cluster_families(s: ClusterSummary) -> Iterator[Metric]:
    yield GaugeMetricFamily("pycluster_workers", "Workers connected", value=s.n_workers)
    yield GaugeMetricFamily("pycluster_cores", "Worker threads in total", value=s.total_cores)
    memory = GaugeMetricFamily("pycluster_memory_bytes", "Worker memory", labels=["kind"])
    memory.add_metric(["limit"], s.total_memory_bytes)
    memory.add_metric(["used"], s.used_memory_bytes)
    yield memory
    tasks = GaugeMetricFamily("pycluster_tasks", "Tasks on workers by state", labels=["state"])
    tasks.add_metric(["executing"], s.active_tasks)
    tasks.add_metric(["ready"], sum(w.tasks_ready for w in s.workers))
    yield tasks


def _worker_families(s: ClusterSummary) -> Iterator[Metric]:
    labels = ["worker", "host"]
    threads = GaugeMetricFamily("pycluster_worker_threads", "Threads of each worker", labels=labels)
    limit = GaugeMetricFamily("pycluster_worker_memory_limit_bytes", "Memory limit per worker", labels=labels)
    used = GaugeMetricFamily("pycluster_worker_memory_used_bytes", "Memory in use per worker", labels=labels)
    cpu = GaugeMetricFamily("pycluster_worker_cpu_percent", "CPU use per worker", labels=labels)
    executing = GaugeMetricFamily(
        "pycluster_worker_tasks_executing", "Tasks running per worker", labels=labels
    )
    for w in s.workers:
        values = [w.name, w.host or ""]
        threads.add_metric(values, w.nthreads)
        limit.add_metric(values, w.memory_limit)
        used.add_metric(values, w.memory_used)
        cpu.add_metric(values, w.cpu_percent)
        executing.add_metric(values, w.tasks_executing)
    yield from (threads, limit, used, cpu, executing)


def _job_families(counts: dict[tuple[str, int], int]) -> Iterator[Metric]:
    jobs = GaugeMetricFamily("pycluster_jobs", "Jobs by status and priority", labels=["status", "priority"])
    for status in JobStatus:
        for priority in Priority:
            jobs.add_metric([status.value, priority.name], counts.get((status.value, int(priority)), 0))
    yield jobs
    depth = sum(counts.get((st, int(p)), 0) for st in ("pending", "queued") for p in Priority)
    yield GaugeMetricFamily("pycluster_queue_depth", "Jobs waiting to run", value=depth)


async def read_cluster(request: Request) -> tuple[ClusterReading, GPUCollector | None]:
    """Everything one scrape reports, read from the head on the request's event loop."""
    node = controller(request).head
    if node is None:
        return ClusterReading(running=False), None
    summary = ClusterSummary.from_identity(await node.snapshot())
    history: Any = node.services.get("metrics")
    queue: Any = node.services.get("jobs")
    gpu: Any = node.services.get("gpu")
    reading = ClusterReading(
        running=True,
        summary=summary,
        uptime_seconds=node.uptime_seconds,
        tasks_completed=history.counter.completed if history is not None else None,
        tasks_failed=history.counter.failed if history is not None else None,
        job_counts=queue.store.counts() if queue is not None else None,
    )
    return reading, (GPUCollector(gpu.view, gpu.alerts.active()) if gpu is not None else None)


@router.get(
    "/metrics",
    response_class=Response,
    summary="Prometheus metrics",
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}},
)
async def prometheus_metrics(request: Request) -> Response:
    reading, gpus = await read_cluster(request)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ClusterCollector(reading))
    if gpus is not None:
        registry.register(gpus)
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

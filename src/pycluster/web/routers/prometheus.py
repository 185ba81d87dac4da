"""GET /metrics: Prometheus text format (workers, tasks, jobs by status and priority, queue depth, GPUs)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from ...cluster.status import cluster_summary
from ...jobs.model import JobStatus, Priority
from ..deps import ERROR_RESPONSES, controller
from ..prometheus_gpu import gpu_metric_lines

__all__ = ["router"]

router = APIRouter(responses=ERROR_RESPONSES, tags=["metrics"])


def _line(lines: list[str], name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> None:
    lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    lines += [f"{name}{labels} {value:g}" for labels, value in samples]


@router.get("/metrics", response_class=PlainTextResponse)
async def prometheus_metrics(request: Request) -> str:
    lines: list[str] = []
    node = controller(request).head
    _line(lines, "pycluster_up", "gauge", "1 while the cluster runs", [("", 1.0 if node else 0.0)])
    if node is None:
        return "\n".join(lines) + "\n"
    s = cluster_summary(await node.snapshot())
    _line(lines, "pycluster_workers", "gauge", "Workers connected", [("", s["n_workers"])])
    _line(lines, "pycluster_cores", "gauge", "Worker threads in total", [("", s["total_cores"])])
    _line(
        lines,
        "pycluster_memory_bytes",
        "gauge",
        "Worker memory",
        [('{kind="limit"}', s["total_memory_bytes"]), ('{kind="used"}', s["used_memory_bytes"])],
    )
    _line(
        lines,
        "pycluster_tasks",
        "gauge",
        "Tasks on workers by state",
        [('{state="executing"}', s["active_tasks"]), ('{state="ready"}', s["ready_tasks"])],
    )
    history = node.services.get("metrics")
    if history is not None:
        _line(
            lines,
            "pycluster_tasks_completed_total",
            "counter",
            "Tasks finished since start",
            [("", history.counter.completed)],
        )
        _line(
            lines,
            "pycluster_tasks_failed_total",
            "counter",
            "Tasks failed since start",
            [("", history.counter.failed)],
        )
    queue = node.services.get("jobs")
    if queue is not None:
        counts = queue.store.counts()
        samples = [
            (
                f'{{status="{status.value}",priority="{priority.name}"}}',
                counts.get((status.value, int(priority)), 0),
            )
            for status in JobStatus
            for priority in Priority
        ]
        _line(lines, "pycluster_jobs", "gauge", "Jobs by status and priority", samples)
        depth = sum(counts.get((st, int(p)), 0) for st in ("pending", "queued") for p in Priority)
        _line(lines, "pycluster_queue_depth", "gauge", "Jobs waiting to run", [("", depth)])
    gpu = node.services.get("gpu")
    if gpu is not None:
        lines += gpu_metric_lines(gpu.view, gpu.alerts.active())
    return "\n".join(lines) + "\n"

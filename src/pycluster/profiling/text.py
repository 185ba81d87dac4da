"""The text of ``ProfileReport.summary()``."""

from __future__ import annotations

from collections.abc import Sequence

from .report import ProfileReport, memory_text

__all__ = ["summary_text"]


def _table(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]


def summary_text(report: ProfileReport) -> str:
    lines = [
        f"Cluster profile of {report.scheduler_address}: {report.duration_s:.1f}s, "
        f"{report.n_tasks} tasks on {len(report.workers)} workers"
    ]
    if report.functions:
        lines.append("Tasks by function (compute time):")
        rows: list[tuple[str, ...]] = [("FUNCTION", "CALLS", "TOTAL", "MEAN", "MIN", "MAX", "ERRORS")]
        rows += [
            (
                f.name,
                str(f.count),
                f"{f.total_s:.3f}s",
                f"{f.mean_s * 1000:.1f}ms",
                f"{f.min_s * 1000:.1f}ms",
                f"{f.max_s * 1000:.1f}ms",
                str(f.errors),
            )
            for f in report.functions
        ]
        lines += _table(rows)
    else:
        lines.append("No tasks ran in this window.")
    if report.tasks_lost:
        lines.append(
            f"{report.tasks_lost} more tasks finished but fell out of Dask's task-stream buffer "
            "(distributed.scheduler.dashboard.tasks.task-stream-length): the counts above are short"
        )
    p = report.phases
    scheduler = "not measured" if p.scheduler_cpu_s is None else f"{p.scheduler_cpu_s:.3f}s CPU"
    if p.scheduler_cpu_s is not None and report.n_tasks:
        scheduler += f" ({p.scheduler_cpu_s / report.n_tasks * 1000:.2f}ms per task)"
    lines.append(
        f"Time: compute {p.compute_s:.3f}s, transfer {p.transfer_s:.3f}s "
        f"({p.transfers} transfers), deserialize {p.deserialize_s:.3f}s, "
        f"disk {p.disk_s:.3f}s"
    )
    lines.append(f"Scheduler (event loop): {scheduler}")
    if report.workers:
        lines.append("Workers (CPU% and memory over the window):")
        workers: list[tuple[str, ...]] = [
            ("WORKER", "SAMPLES", "CPU MEAN", "CPU MAX", "MEMORY MEAN", "MEMORY MAX")
        ]
        workers += [
            (
                w.name,
                str(w.samples),
                f"{w.cpu_mean:.0f}%",
                f"{w.cpu_max:.0f}%",
                memory_text(w.memory_mean),
                memory_text(w.memory_max),
            )
            for w in report.workers
        ]
        lines += _table(workers)
    if report.hot_frames:
        lines.append(f"Hot code on workers ({report.profile_samples} samples):")
        hot: list[tuple[str, ...]] = [("SAMPLES", "FUNCTION", "WHERE")]
        hot += [(str(h.self_samples), h.function, f"{h.filename}:{h.line}") for h in report.hot_frames[:5]]
        lines += _table(hot)
    return "\n".join(lines)

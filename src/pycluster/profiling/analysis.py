"""Turn what Dask hands back (task-stream records, metric samples, the profile tree) into report parts."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from distributed.utils import key_split

from .report import FunctionStats, HotFrame, PhaseTotals, TaskRecord, WorkerSample, WorkerUsage

__all__ = ["function_stats", "hot_frames", "phase_totals", "task_records", "worker_usage"]

# frames of Dask's and Python's own machinery: every task runs under them, so as "hot code"
# they would hide the user's functions (their time is still in the callers' totals)
_MACHINERY = ("/distributed/", "/threading.py", "/concurrent/futures/", "/asyncio/", "/tornado/")


def task_records(stream: Iterable[Mapping[str, Any]]) -> list[TaskRecord]:
    """One record per task that computed; transfers alone (no compute phase) are no task of the window."""
    records = []
    for entry in stream:
        computes = [s for s in entry.get("startstops", ()) if s.get("action") == "compute"]
        if not computes:
            continue
        records.append(
            TaskRecord(
                function=key_split(entry["key"]),
                worker=str(entry.get("worker", "")),
                thread=int(entry.get("thread") or 0),
                start=min(float(s["start"]) for s in computes),
                stop=max(float(s["stop"]) for s in computes),
                ok=entry.get("status", "OK") == "OK",
            )
        )
    records.sort(key=lambda r: r.start)
    return records


def function_stats(records: Sequence[TaskRecord]) -> list[FunctionStats]:
    """Per function, the most total compute time first."""
    by_name: dict[str, list[TaskRecord]] = defaultdict(list)
    for record in records:
        by_name[record.function].append(record)
    stats = []
    for name, group in by_name.items():
        seconds = [r.seconds for r in group]
        stats.append(
            FunctionStats(
                name=name,
                count=len(group),
                errors=sum(not r.ok for r in group),
                total_s=sum(seconds),
                mean_s=sum(seconds) / len(seconds),
                min_s=min(seconds),
                max_s=max(seconds),
            )
        )
    return sorted(stats, key=lambda s: (-s.total_s, s.name))


def phase_totals(stream: Iterable[Mapping[str, Any]], scheduler_cpu_s: float | None) -> PhaseTotals:
    """Seconds per phase over every start/stop the workers reported."""
    seconds: dict[str, float] = defaultdict(float)
    transfers = 0
    for entry in stream:
        for phase in entry.get("startstops", ()):
            action = str(phase.get("action"))
            seconds[action] += float(phase["stop"]) - float(phase["start"])
            if action == "transfer":
                transfers += 1
    return PhaseTotals(
        compute_s=seconds["compute"],
        transfer_s=seconds["transfer"],
        transfers=transfers,
        deserialize_s=seconds["deserialize"],
        disk_s=seconds["disk-read"] + seconds["disk-write"],
        scheduler_cpu_s=scheduler_cpu_s,
    )


def worker_usage(
    samples: Sequence[WorkerSample], names: Mapping[str, str], limits: Mapping[str, int]
) -> list[WorkerUsage]:
    by_worker: dict[str, list[WorkerSample]] = defaultdict(list)
    for sample in samples:
        by_worker[sample.worker].append(sample)
    usage = []
    for worker, group in sorted(by_worker.items()):
        cpu = [s.cpu_percent for s in group]
        memory = [s.memory_bytes for s in group]
        usage.append(
            WorkerUsage(
                worker=worker,
                name=names.get(worker, worker),
                samples=len(group),
                cpu_mean=sum(cpu) / len(cpu),
                cpu_max=max(cpu),
                memory_mean=sum(memory) // len(memory),
                memory_max=max(memory),
                memory_limit=int(limits.get(worker, 0)),
            )
        )
    return usage


def hot_frames(tree: Mapping[str, Any], limit: int = 15) -> list[HotFrame]:
    """The lines of code where the most samples landed (self), machinery left out.

    Dask's workers build a call tree whose nodes count the samples in which they *called*
    something (a frame's count grows when one of its callees was sampled), so the samples
    a leaf frame took itself show only in its caller's count, less its callees' counts.
    That remainder goes to the callees that never called anything (pure leaves), shared
    equally; with none, to all callees by their counts. Exact when a caller has one
    leaf callee, as a task's function usually has. The same line through different callers
    is summed.
    """
    own: dict[tuple[str, str, int], float] = defaultdict(float)
    under: dict[tuple[str, str, int], float] = defaultdict(float)

    def key_of(node: Mapping[str, Any]) -> tuple[str, str, int]:
        description = node.get("description") or {}
        if not isinstance(description, Mapping):  # the root's
            return ("", "", 0)
        return (
            str(description.get("name", "")),
            str(description.get("filename", "")),
            int(description.get("line_number") or 0),
        )

    def visit(node: Mapping[str, Any], leaf_samples: float) -> None:
        key = key_of(node)
        count = float(node.get("count", 0))
        own[key] += leaf_samples
        under[key] += count + leaf_samples
        children = list(node.get("children", {}).values())
        if not children:
            return
        counts = [float(c.get("count", 0)) for c in children]
        rest = max(0.0, count - sum(counts))
        leaves = [not c.get("children") for c in children]
        shares: list[float]
        if any(leaves):
            shares = [rest / sum(leaves) if leaf else 0.0 for leaf in leaves]
        elif sum(counts):
            shares = [rest * n / sum(counts) for n in counts]
        else:
            shares = [rest / len(children)] * len(children)
        for child, share in zip(children, shares):
            visit(child, share)

    visit(tree, 0.0)
    frames = [
        HotFrame(
            function=k[0], filename=k[1], line=k[2], self_samples=round(n), total_samples=round(under[k])
        )
        for k, n in own.items()
        if round(n) > 0 and k[0] and not any(part in k[1] for part in _MACHINERY)
    ]
    return sorted(frames, key=lambda f: (-f.self_samples, f.function))[:limit]

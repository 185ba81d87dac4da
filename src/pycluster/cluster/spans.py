"""Dask's spans on a head, with finished ones forgotten: without this the head's memory grows
with every job it ever ran.

Dask's scheduler (``distributed.spans.SpansSchedulerExtension``) files every graph's tasks under a
span and keeps every span for the scheduler's lifetime; each span holds the ``TaskGroup`` of each
of its task groups (timings and state counts), also after the tasks are forgotten. A new
"default" span starts whenever the previous one has finished, and each job's pieces are a task
group of their own, so a head running jobs day and night kept a span per busy period and a task
group per job: about 1 MB per 1,000 jobs (``benchmarks/soak.py --trace-memory``). Nothing in
pycluster reads spans, and Dask's own dashboard only sums recent ones.

:class:`BoundedSpans` is that extension with a limit: when it starts a default span it forgets
the oldest finished root spans beyond the last :data:`KEEP_SPANS`, but only those none of whose
task groups the scheduler still knows (so no live task points to a forgotten span). A worker's
heartbeat that still names a forgotten span has that span's metrics dropped instead of failing.
"""

from __future__ import annotations

from typing import Any

from distributed.spans import Span, SpansSchedulerExtension

__all__ = ["KEEP_SPANS", "BoundedSpans", "scheduler_extensions"]

KEEP_SPANS = 100  # Dask's own default for the history it keeps of computations


class BoundedSpans(SpansSchedulerExtension):
    """``SpansSchedulerExtension`` that keeps at most the last :data:`KEEP_SPANS` finished root spans."""

    def _ensure_default_span(self) -> Span:
        self.forget_finished()
        return super()._ensure_default_span()

    def forget_finished(self, keep: int | None = None) -> int:
        """Forget the oldest finished root spans beyond the newest ``keep`` (default
        :data:`KEEP_SPANS`); returns how many."""
        known = self.scheduler.task_groups
        keep = KEEP_SPANS if keep is None else keep
        old = self.root_spans[: max(0, len(self.root_spans) - keep)]
        gone = [
            span
            for span in old
            if not span.children and all(known.get(tg.name) is not tg for tg in span.groups)
        ]
        if not gone:
            return 0
        ids = {span.id for span in gone}
        self.root_spans = [span for span in self.root_spans if span.id not in ids]
        for span in gone:
            del self.spans[span.id]
            _drop(self.spans_search_by_name, span.name, ids)
            for tag in span.name:
                _drop(self.spans_search_by_tag, tag, ids)
        return len(gone)

    def heartbeat(self, ws: Any, data: dict[tuple[Any, ...], float]) -> None:
        known = {key: value for key, value in data.items() if key[1] in self.spans}
        super().heartbeat(ws, known)


def _drop(table: Any, key: Any, ids: set[str]) -> None:
    """Take the spans ``ids`` out of one of the extension's search tables."""
    kept = [span for span in table.get(key, []) if span.id not in ids]
    if kept:
        table[key] = kept
    else:
        table.pop(key, None)


def scheduler_extensions() -> dict[str, Any]:
    """Dask's default scheduler extensions with :class:`BoundedSpans` for spans (and work stealing
    left out when Dask's config turns it off, as Dask does when it picks the defaults itself)."""
    import dask.config
    from distributed.scheduler import DEFAULT_EXTENSIONS

    extensions: dict[str, Any] = {**DEFAULT_EXTENSIONS, "spans": BoundedSpans}
    if not dask.config.get("distributed.scheduler.work-stealing"):
        extensions.pop("stealing", None)
    return extensions

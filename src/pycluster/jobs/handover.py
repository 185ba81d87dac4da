"""Look-ahead dispatch: small jobs handed to the cluster before a core is free for them.

The dispatcher keeps up to ``dispatch_lookahead`` jobs per worker thread waiting on the Dask
scheduler beyond those executing (see :func:`~pycluster.jobs.policy.pick_ahead`), so a worker
that finishes a trivial job starts the next one at once instead of waiting for a dispatcher
round trip. Such a job is still ``queued`` (waiting reason :data:`HANDED_OVER`) until its
piece starts on a worker: :class:`StartReported` tells the head then, on the progress topic
the head already follows, and only then is the job ``running`` with a ``started_at``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .progress import PROGRESS_TOPIC

__all__ = ["HANDED_OVER", "StartReported", "run_piece"]

HANDED_OVER = "handed to the cluster, waiting for a free core"


@dataclass(frozen=True)
class StartReported:
    """A piece function that first tells the head its piece started (pickled to the worker)."""

    func: Callable[[Any], Any]

    def __call__(self, piece_input: Any) -> Any:
        _report_start()
        return self.func(piece_input)


def run_piece(func: Callable[[Any], Any], piece_input: Any) -> Any:
    """What the cluster runs for a piece: its function (with the log capture, memory limit and
    start report around it) on its input; one function for all, so one ``Client.map`` submits
    the pieces of many jobs."""
    return func(piece_input)


def _report_start() -> None:
    try:
        from distributed import get_worker

        worker = get_worker()
        key = worker.get_current_task()
    except (ValueError, ImportError, AttributeError):
        return  # run outside a worker (inline): nobody waits for the start
    worker.log_event(PROGRESS_TOPIC, {"key": key, "started": True})

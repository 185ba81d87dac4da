"""Look-ahead dispatch: small jobs handed to the cluster before a core is free for them.

The dispatcher keeps up to ``dispatch_lookahead`` jobs per worker thread waiting on the Dask
scheduler beyond those executing (see :func:`~pycluster.jobs.policy.pick_ahead`), so a worker
that finishes a trivial job starts the next one at once instead of waiting for a dispatcher
round trip. Such a job is still ``queued`` (waiting reason :data:`HANDED_OVER`) until the
head hears that its piece started on a worker (:func:`started_at`, from the piece's log
capture): only then is the job ``running``, with the worker's start time as ``started_at``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["HANDED_OVER", "run_piece", "started_at"]

HANDED_OVER = "handed to the cluster, waiting for a free core"


def run_piece(func: Callable[[Any], Any], piece_input: Any) -> Any:
    """What the cluster runs for a piece: its function (with the log capture and the memory
    limit around it) on its input; one function for all, so one ``Client.map`` submits
    the pieces of many jobs."""
    return func(piece_input)


def started_at(message: Any) -> tuple[str, float] | None:
    """(job id, when) if a batch of a piece's output (jobs/logcapture.py) holds its "piece
    started" line, else None. The batch reaches the head at the latest a quarter of a second
    after the piece started (logcapture.FLUSH_INTERVAL), with the piece's output if it ends
    sooner: no event of its own per piece, and the start time is the worker's.

    >>> started_at({"job_id": "j", "entries": [{"t": 5.0, "stream": "piece", "text": "started"}]})
    ('j', 5.0)
    """
    if not isinstance(message, dict):
        return None
    for entry in message.get("entries") or ():
        if isinstance(entry, dict) and entry.get("stream") == "piece" and entry.get("text") == "started":
            try:
                return str(message["job_id"]), float(entry["t"])
            except (KeyError, TypeError, ValueError):
                return None
    return None

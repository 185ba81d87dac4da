"""Progress reported from inside a running task: ``pycluster.report_progress(done, total)``.

The worker logs an event on a Dask topic; the job queue on the head subscribes to
it and folds it into the job's progress, which the API and dashboard show.
"""

from __future__ import annotations

import time

__all__ = ["PROGRESS_TOPIC", "report_progress"]

PROGRESS_TOPIC = "pycluster-progress"
_MIN_INTERVAL = 0.2  # seconds between two events from one task, so tight loops stay cheap
_last_sent: dict[str, float] = {}


def report_progress(done: float, total: float) -> bool:
    """Tell the job running this task that ``done`` of ``total`` units are finished.

    Returns False (and does nothing) outside a pycluster job task. Cheap to call often:
    events are sent at most every 0.2 s per task, and always for the last unit.

    >>> report_progress(1, 10)  # outside a task: ignored
    False
    """
    try:
        from distributed import get_worker

        worker = get_worker()
        key = worker.get_current_task()
    except (ValueError, ImportError, AttributeError):
        return False
    if not isinstance(key, str) or not key.startswith("('pycluster-job-"):  # runner.piece_key
        return False
    now = time.monotonic()
    if done < total and now - _last_sent.get(key, 0.0) < _MIN_INTERVAL:
        return True
    _last_sent[key] = now
    fraction = max(0.0, min(1.0, float(done) / float(total))) if total else 0.0
    worker.log_event(PROGRESS_TOPIC, {"key": key, "fraction": fraction})
    return True

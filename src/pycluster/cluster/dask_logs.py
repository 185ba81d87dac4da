"""Dask's developer logs in a head process, kept shorter than Dask keeps them.

Dask keeps the last ``distributed.admin.low-level-log-length`` (1,000) entries of several logs
that only a developer reads: the scheduler's transition log, the events of every topic (the
head's job progress and job log batches among them, which it has already forwarded to its
subscriber), and every comm's recent batches (``BatchedSend.recent_message_log``: each batch
to a worker holds its tasks' pickled functions and arguments). They are bounded, but in a
head under steady load they fill for many minutes (one log per worker and per client, up to
1,000 batches each), so its memory climbs long after warm-up (``benchmarks/soak.py``). A
hundred entries still show a developer what just happened.
"""

from __future__ import annotations

__all__ = ["HEAD_LOW_LEVEL_LOG_LENGTH", "LOG_LENGTH_KEY", "bound_dask_logs"]

LOG_LENGTH_KEY = "distributed.admin.low-level-log-length"
HEAD_LOW_LEVEL_LOG_LENGTH = 100
_DASK_DEFAULT = 1000


def bound_dask_logs() -> int:
    """Shorten Dask's developer logs in this process, unless Dask's config chose a length (a
    value set there wins); returns the length in force. Call it before the scheduler starts:
    Dask reads the length when it creates each log."""
    import dask.config

    configured = dask.config.get(LOG_LENGTH_KEY, _DASK_DEFAULT)
    if configured == _DASK_DEFAULT:
        dask.config.set({LOG_LENGTH_KEY: HEAD_LOW_LEVEL_LOG_LENGTH})
        return HEAD_LOW_LEVEL_LOG_LENGTH
    return int(configured)

"""Keep FastAPI's worker threads for sync routes alive between requests on the head's loop.

FastAPI runs a sync route (``def``) in anyio's thread pool. anyio ties each worker thread to
the event loop's *root task* and stops the thread when that task ends. It finds the root task
as the one ``asyncio.run`` / ``run_until_complete`` started; the head's loop runs with
``run_forever`` (``cluster/loop.py``), so there is none, anyio takes the request's own task,
and every sync request started a thread and stopped it afterwards (measured: about a quarter
of the head's CPU under 20 submitting clients). Naming the web server's serving task as the
root task makes the workers live as long as the server, and be reused.

anyio has no public call for this; its private name is guarded, so a newer anyio without it
only costs the speed, never a request.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

__all__ = ["adopt_root_task"]

log = logging.getLogger(__name__)


def adopt_root_task(task: asyncio.Task[Any]) -> bool:
    """Make ``task`` (long-lived, on the running loop) anyio's root task for this loop, so
    worker threads outlive single requests. True when anyio took it. Call on ``task``'s loop."""
    try:
        from anyio._backends._asyncio import _root_task
    except ImportError:  # pragma: no cover - another anyio: threads per request, still correct
        log.debug("anyio has no _root_task: sync routes start a thread per request")
        return False
    current = _root_task.get(None)
    if current is not None and not current.done():
        return False  # asyncio.run (pycluster api) or a server still serving named one
    # once ``task`` is done anyio looks for a root task again, as before (no clean-up needed)
    _root_task.set(task)
    return True

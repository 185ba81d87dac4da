"""Keep the garbage collector's full collections short in a serving head.

CPython's oldest-generation collection walks every tracked object. A head holds about 200,000
of them once started (FastAPI's routes and schemas, Dask's scheduler, imported modules), and a
full collection then held its event loop for 75-105 ms, several times a second under 20
submitting clients: every request in flight waited for it, which was the REST submission's
whole p99. Freezing the objects alive once start-up is done takes them out of every later
collection (they are still freed by reference counting when dropped); collections then walk
only what was made since, a few milliseconds.

Stopping the server thaws them again (:func:`thaw_heap`): a process that starts and stops heads
(tests, notebooks) would otherwise never collect a stopped head's cycles.
"""

from __future__ import annotations

import gc
import logging
import time

__all__ = ["freeze_start_up_heap", "thaw_heap"]

log = logging.getLogger(__name__)


def freeze_start_up_heap() -> int:
    """Collect what start-up left over, then move every object alive now out of the collector's
    reach; how many were frozen. Objects that become garbage in a cycle later are not reclaimed
    by the collector until :func:`thaw_heap` (start-up objects live as long as the head)."""
    started = time.perf_counter()
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.debug("froze %d start-up objects in %.0f ms", frozen, 1000 * (time.perf_counter() - started))
    return frozen


def thaw_heap() -> None:
    """Hand the frozen objects back to the collector (the head stops: its cycles become garbage)."""
    gc.unfreeze()
